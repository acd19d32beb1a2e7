#!/bin/sh
# The smallest CGI script: a header, a blank line, a body.
printf 'Content-Type: text/plain\n\nHello, world!\n'
