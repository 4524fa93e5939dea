#!/bin/sh
# Usage: gen-cert.sh DIR  -> DIR/key.pem, DIR/cert.pem: self-signed cert for localhost / 127.0.0.1 (10 years).
set -eu
DIR=${1:?usage: gen-cert.sh DIR}
mkdir -p "$DIR"
openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -sha256 \
  -keyout "$DIR/key.pem" -out "$DIR/cert.pem" -subj "/CN=localhost" \
  -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
  -addext "basicConstraints=critical,CA:TRUE" \
  -addext "keyUsage=critical,digitalSignature,keyEncipherment,keyCertSign" \
  -addext "extendedKeyUsage=serverAuth" 2>/dev/null
echo "$DIR/cert.pem $DIR/key.pem"
