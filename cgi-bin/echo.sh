#!/bin/sh
# Sends the request body back, byte for byte, with the client's type.
printf 'Content-Type: %s\n\n' "${CONTENT_TYPE:-application/octet-stream}"
exec cat
