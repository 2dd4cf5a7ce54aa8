"""The back-office desks: staff's daily operations as server-rendered forms inside the admin's frame.

Each module owns one desk (orders, stock, analytics, people, catalogue) and exports `urlpatterns` and `NAV`;
`urls.py` joins them under /admin/ops/. Views parse a form, call a service, show the result — nothing else
(docs/backoffice.md).
"""
