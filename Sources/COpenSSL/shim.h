// The system OpenSSL (Debian's libssl-dev), with functions for the macros Swift cannot import.
#ifndef WISP_COPENSSL_SHIM_H
#define WISP_COPENSSL_SHIM_H
#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <openssl/evp.h>
#include <openssl/bio.h>

static inline long wisp_SSL_CTX_set_min_proto_version(SSL_CTX *ctx, int version) {
  return SSL_CTX_set_min_proto_version(ctx, version);
}
static inline long wisp_SSL_set_tlsext_host_name(SSL *ssl, const char *name) {
  return SSL_set_tlsext_host_name(ssl, name);
}
static inline long wisp_SSL_CTX_set_mode(SSL_CTX *ctx, long mode) {
  return SSL_CTX_set_mode(ctx, mode);
}
static inline int wisp_TLS1_2_VERSION(void) { return TLS1_2_VERSION; }
static inline int wisp_TLS1_3_VERSION(void) { return TLS1_3_VERSION; }
static inline long wisp_SSL_MODE_ENABLE_PARTIAL_WRITE(void) { return SSL_MODE_ENABLE_PARTIAL_WRITE; }
static inline long wisp_SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER(void) { return SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER; }
static inline size_t wisp_BIO_ctrl_pending(BIO *bio) { return BIO_ctrl_pending(bio); }
#endif
