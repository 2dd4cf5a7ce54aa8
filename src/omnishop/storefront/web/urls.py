"""The web shop's addresses (namespace `shop`), mounted at the site's root."""

from django.urls import path
from django.views.generic import RedirectView

from . import account, catalog, conversations, csat, shopping

app_name = "shop"

urlpatterns = [
    path("", catalog.home, name="home"),
    path("c/<path:path>/", catalog.category, name="category"),
    path("search", catalog.search_page, name="search"),
    path("search/suggest", catalog.suggestions, name="suggest"),
    path("p/<slug:slug>/", catalog.product, name="product"),
    path("cart", shopping.cart_page, name="cart"),
    path("cart/add", shopping.add_to_cart, name="cart_add"),
    path("cart/update", shopping.update_cart, name="cart_update"),
    path("checkout", shopping.checkout, name="checkout"),
    path("buy-now", shopping.buy_now, name="buy_now"),
    path("track/<str:token>", shopping.order_placed, name="order_placed"),
    path("account/", account.account, name="account"),
    path("account/orders/<str:number>/", account.account_order, name="account_order"),
    path("account/orders/<str:number>/cancel", account.cancel_order, name="account_cancel"),
    path("account/orders/<str:number>/address", account.change_order_address, name="account_order_address"),
    path("account/orders/<str:number>/return", account.request_return, name="account_return"),
    path("account/addresses", account.addresses, name="addresses"),
    path("account/messages/", conversations.conversations, name="account_messages"),
    path("account/messages/<str:number>/", conversations.conversation, name="account_conversation"),
    path("account/messages/<str:number>/reply", conversations.reply, name="account_conversation_reply"),
    path("account/messages/<str:number>/rate", conversations.rate, name="account_conversation_rate"),
    path("contact", account.contact, name="contact"),
    path("support/rate/<str:token>", csat.rate, name="csat"),
    path("robots.txt", catalog.robots, name="robots"),
    path("sitemap.xml", catalog.sitemap, name="sitemap"),
    path("img/placeholder/<int:hue>.svg", catalog.placeholder, name="placeholder"),
    path("favicon.ico", RedirectView.as_view(url="/static/storefront/favicon.svg", permanent=True)),
]
