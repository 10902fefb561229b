"""``{% load django_asgi_ws %}``: the ``websocket_url`` tag."""

from __future__ import annotations

import re
from typing import Any

from django import template
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest
from django.template.base import FilterExpression, Parser, Token
from django.urls import NoReverseMatch
from django.utils.html import conditional_escape

from django_asgi_ws.shortcuts import websocket_url as absolute_websocket_url

register = template.Library()

# One argument of the tag: "value" or "name=value".
ARGUMENT = re.compile(r"(?:(\w+)=)?(.+)")


@register.tag
def websocket_url(parser: Parser, token: Token) -> WebSocketURLNode:
    """``{% websocket_url "name" arg key=value [as variable] %}``, read as ``{% url %}`` is."""
    bits = token.split_contents()
    tag_name = bits.pop(0)
    if not bits:
        raise template.TemplateSyntaxError(
            f"'{tag_name}' takes at least one argument, the name of a websocket route."
        )
    viewname = parser.compile_filter(bits.pop(0))
    variable = None
    if len(bits) >= 2 and bits[-2] == "as":
        variable = bits.pop()
        bits.pop()
    args = []
    kwargs = {}
    for bit in bits:
        match = ARGUMENT.fullmatch(bit)
        if match is None:
            raise template.TemplateSyntaxError(f"Malformed argument to '{tag_name}': {bit}")
        name, value = match.groups()
        if name:
            kwargs[name] = parser.compile_filter(value)
        else:
            args.append(parser.compile_filter(value))
    return WebSocketURLNode(viewname, args, kwargs, variable)


class WebSocketURLNode(template.Node):
    """The absolute URL of a websocket route, or ``as`` a variable set to it."""

    child_nodelists = ()

    def __init__(
        self,
        viewname: FilterExpression,
        args: list[FilterExpression],
        kwargs: dict[str, FilterExpression],
        variable: str | None,
    ) -> None:
        self.viewname = viewname
        self.args = args
        self.kwargs = kwargs
        self.variable = variable

    def render(self, context: template.Context) -> str:
        request = request_of(context)
        viewname = self.viewname.resolve(context)
        args = [arg.resolve(context) for arg in self.args]
        kwargs = {name: value.resolve(context) for name, value in self.kwargs.items()}
        url = ""
        try:
            url = absolute_websocket_url(request, viewname, *args, **kwargs)
        except NoReverseMatch:
            # As {% url ... as variable %}: the variable is set to "" instead.
            if self.variable is None:
                raise
        if self.variable is not None:
            context[self.variable] = url
            return ""
        return conditional_escape(url) if context.autoescape else url


def request_of(context: template.Context) -> HttpRequest:
    """The request the template is rendered for, whose scheme and host the URL takes."""
    request: Any = getattr(context, "request", None) or context.get("request")
    if not isinstance(request, HttpRequest):
        raise ImproperlyConfigured(
            "The websocket_url tag needs the request the page answers, for its scheme "
            "and host: render the template with it (django.shortcuts.render(request, ...) "
            "or template.render(context, request)), or put it in the context as "
            "'request', as the context processor "
            "'django.template.context_processors.request' does."
        )
    return request
