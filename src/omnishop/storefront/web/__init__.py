"""The web shop: server-rendered pages of the merchant's `web` channel (docs/storefront.md).

Every flow works with JavaScript off; `static/storefront/shop.js` only makes it smoother. The pages call the
same services as the REST API (catalog reads, search, recommendations, carts, checkout, tracking); nothing
here decides a business rule.
"""
