#!/bin/sh
# The first page: what rcgi serves from this folder, one link per example.
# It is a CGI script too; SCRIPT_NAME tells it where it is mounted.
base=$(dirname "$SCRIPT_NAME")
printf 'Content-Type: text/html; charset=utf-8\n\n'
cat <<HTML
<!doctype html>
<html lang=en><meta charset=utf-8><title>rcgi: it works</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:42em;margin:2em auto;padding:0 1em}code{font-size:.95em}</style>
<h1>rcgi is serving <code>$base/</code></h1>
<p>Each example below is a small executable file in this folder. Edit one, or add
your own (<code>chmod +x</code> it), and reload: no restart needed.</p>
<ul>
<li><a href="$base/hello.sh">hello.sh</a>: the smallest script (a header, a blank line, a body)</li>
<li><a href="$base/env.sh/any/path?x=1">env.sh/any/path?x=1</a>: every variable a script gets</li>
<li><a href="$base/form.py">form.py</a>: a form handler in Python (GET shows the form, POST answers)</li>
<li><a href="$base/hello.pl?name=you">hello.pl?name=you</a>: Perl, no modules</li>
<li><a href="$base/echo.sh">echo.sh</a>: sends the request body back
(<code>curl --data-binary @file http://$HTTP_HOST$base/echo.sh</code>)</li>
</ul>
<p>Run rcgi with <code>--debug</code> to see why a script fails on its error page,
and every request in the inspector at <a href="/.rcgi/">/.rcgi/</a>.</p>
</html>
HTML
