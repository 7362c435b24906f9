// The system OpenSSL (Debian's libssl-dev), with functions for the macros Swift cannot import.
#ifndef WISP_COPENSSL_SHIM_H
#define WISP_COPENSSL_SHIM_H
#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <openssl/evp.h>
#include <openssl/bio.h>
#include <openssl/rand.h>

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

// ALPN on the server: select the first protocol of the server's list that the client offers (RFC 7301; the server's
// order of preference, RFC 7540 section 3.3), and refuse a client that offers none of them. The lists live in static
// storage, because OpenSSL keeps a pointer into them; `arg` says which.
static const unsigned char wisp_alpn_http11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
static const unsigned char wisp_alpn_h2_http11[] = {2, 'h', '2', 8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
static inline int wisp_alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                                   const unsigned char *in, unsigned int inlen, void *arg) {
  (void)ssl;
  const unsigned char *list = arg != NULL ? wisp_alpn_h2_http11 : wisp_alpn_http11;
  unsigned int length = arg != NULL ? sizeof(wisp_alpn_h2_http11) : sizeof(wisp_alpn_http11);
  unsigned char *selected = NULL;
  if (SSL_select_next_proto(&selected, outlen, list, length, in, inlen) != OPENSSL_NPN_NEGOTIATED) {
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  }
  *out = selected;
  return SSL_TLSEXT_ERR_OK;
}
// "http/1.1" only: the WebSocket handshake is HTTP/1.1 (RFC 6455 section 4.1).
static inline void wisp_SSL_CTX_select_http11_alpn(SSL_CTX *ctx) {
  SSL_CTX_set_alpn_select_cb(ctx, wisp_alpn_select, NULL);
}
// "h2", else "http/1.1": a server that also speaks HTTP/2 (RFC 8441).
static inline void wisp_SSL_CTX_select_h2_or_http11_alpn(SSL_CTX *ctx) {
  SSL_CTX_set_alpn_select_cb(ctx, wisp_alpn_select, (void *)wisp_alpn_h2_http11);
}
#endif
