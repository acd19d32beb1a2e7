#!/usr/bin/env python3
"""A form handler: GET shows the form, POST (or GET with a query) greets.

Uses only the standard library: urllib.parse reads both the query string
and an application/x-www-form-urlencoded body.
"""
import html
import os
import sys
from urllib.parse import parse_qs


def fields():
    data = os.environ.get("QUERY_STRING", "")
    if os.environ.get("REQUEST_METHOD") == "POST":
        length = int(os.environ.get("CONTENT_LENGTH") or 0)
        data = sys.stdin.buffer.read(length).decode("utf-8", "replace")
    return parse_qs(data)


def main():
    name = fields().get("name", [""])[0]
    out = sys.stdout
    out.write("Content-Type: text/html; charset=utf-8\n\n")
    out.write("<!doctype html><title>Form</title>\n")
    if name:
        out.write(f"<p>Hello, {html.escape(name)}!</p>\n")
    script = html.escape(os.environ.get("SCRIPT_NAME", ""))
    out.write(f'<form method="post" action="{script}">\n')
    out.write('<input name="name" placeholder="Your name"> <button>Send</button>\n')
    out.write("</form>\n")


main()
