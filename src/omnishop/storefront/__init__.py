"""The storefront read path: what a channel's shoppers see of the catalog, fast and public."""
