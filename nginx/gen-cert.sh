#!/bin/sh
# Creates the throwaway self-signed certificate NGINX serves when no real one is provided.
#   usage: gen-cert.sh [DIR]   (default /certs; writes DIR/tls.crt and DIR/tls.key)
# A certificate this script did not make (a real one an operator put there) is never touched; one it made is
# renewed when it expires within a day.
set -eu

dir="${1:-/certs}"
cn="${TLS_COMMON_NAME:-localhost}"
days="${TLS_DAYS:-365}"
crt="$dir/tls.crt"
key="$dir/tls.key"
marker="$dir/.self-signed"

command -v openssl >/dev/null 2>&1 || { echo "certs: openssl is not installed in this image" >&2; exit 1; }
mkdir -p "$dir"

if [ -s "$crt" ] && [ -s "$key" ]; then
    if [ ! -e "$marker" ]; then
        echo "certs: keeping the certificate provided in $dir"
        exit 0
    fi
    if openssl x509 -checkend 86400 -noout -in "$crt" >/dev/null 2>&1; then
        echo "certs: self-signed certificate in $dir is still valid"
        exit 0
    fi
fi

umask 077
openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days "$days" \
    -subj "/CN=$cn" -addext "subjectAltName=DNS:$cn,DNS:localhost,IP:127.0.0.1" \
    -keyout "$key.tmp" -out "$crt.tmp" 2>/dev/null
mv "$key.tmp" "$key"
mv "$crt.tmp" "$crt"
chmod 0644 "$crt"
: > "$marker"
echo "certs: generated a self-signed certificate for CN=$cn in $dir (valid $days days)"
