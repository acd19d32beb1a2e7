#!/bin/sh
# Shows the environment rcgi gives a script, one variable per line.
printf 'Content-Type: text/plain\n\n'
env | LC_ALL=C sort
