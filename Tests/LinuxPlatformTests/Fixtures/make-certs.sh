#!/bin/sh
# Makes the TLS test certificates in directory $1 with the openssl command (P-256 keys, fast to make):
#   ca.pem/ca.key            the trusted test CA
#   other-ca.pem/.key        a CA the client does not trust
#   server.pem/.key          localhost, 127.0.0.1, ::1, signed by the test CA
#   wrong-host.pem/.key      only "example.com", signed by the test CA
#   untrusted.pem/.key       localhost, signed by the other CA
#   expired.pem/.key         localhost, signed by the test CA, valid only in January 2020
#   client.pem/.key          a client certificate for mutual TLS, signed by the test CA
#   rsa-server.pem/.key      localhost with an RSA 2048 key (RSA key exchange and RSA suites need one)
#   server.pin / other.pin   base64 SHA-256 of the server's and another key's SubjectPublicKeyInfo
set -eu
dir=$1
cd "$dir"
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
ca() {
  key "$1.key"
  openssl req -x509 -new -key "$1.key" -out "$1.pem" -days 3650 -subj "/CN=$2" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
}
ca ca "Wisp Test CA"
ca other-ca "Wisp Other CA"

cat > ca.cnf <<CNF
[ ca ]
default_ca = test_ca
[ test_ca ]
database = index.txt
new_certs_dir = .
serial = serial
default_md = sha256
policy = any
copy_extensions = none
unique_subject = no
[ any ]
commonName = supplied
CNF
: > index.txt
echo 1000 > serial

# leaf NAME CN SAN CA [startdate enddate]; KEY=rsa makes an RSA key instead of P-256
leaf() {
  if [ "${KEY:-ec}" = rsa ]; then
    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$1.key" 2>/dev/null
  else
    key "$1.key"
  fi
  openssl req -new -key "$1.key" -out "$1.csr" -subj "/CN=$2" 2>/dev/null
  printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\nbasicConstraints=CA:FALSE\n' "$3" > "$1.ext"
  if [ $# -ge 6 ]; then
    dates="-startdate $5 -enddate $6"
  else
    dates="-days 825"
  fi
  # shellcheck disable=SC2086
  openssl ca -batch -config ca.cnf -cert "$4.pem" -keyfile "$4.key" -in "$1.csr" -out "$1.pem" \
    -extfile "$1.ext" -notext $dates 2>/dev/null
}
leaf server localhost "DNS:localhost,IP:127.0.0.1,IP:::1" ca
leaf wrong-host example.com "DNS:example.com" ca
leaf untrusted localhost "DNS:localhost,IP:127.0.0.1,IP:::1" other-ca
leaf expired localhost "DNS:localhost,IP:127.0.0.1,IP:::1" ca 20200101000000Z 20200201000000Z
leaf client "wisp test client" "DNS:client.test" ca
KEY=rsa leaf rsa-server localhost "DNS:localhost,IP:127.0.0.1,IP:::1" ca

pin() { openssl pkey -in "$1" -pubout -outform der 2>/dev/null | openssl dgst -sha256 -binary | openssl base64; }
pin server.key > server.pin
pin other-ca.key > other.pin
