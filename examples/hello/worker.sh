#!/bin/sh
# The worker: every $EVERY seconds, fetch the page from `web` (its service name resolves on the
# project network) and log its title.
n=0
while true; do
    n=$((n + 1))
    title=$(wget -q -O - http://web:8080/ | sed -n 's:.*<title>\(.*\)</title>.*:\1:p')
    echo "visit $n: web says '${title:-nothing}'"
    sleep "${EVERY:-3}"
done
