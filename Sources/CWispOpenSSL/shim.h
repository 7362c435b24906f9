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

// ALPN on the server: select "http/1.1" when the client offers it (RFC 7301); refuse a client that offers only
// other protocols. The list lives in static storage, because OpenSSL keeps a pointer into it.
static const unsigned char wisp_alpn_http11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
static inline int wisp_alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                                   const unsigned char *in, unsigned int inlen, void *arg) {
  (void)ssl; (void)arg;
  unsigned char *selected = NULL;
  if (SSL_select_next_proto(&selected, outlen, wisp_alpn_http11, sizeof(wisp_alpn_http11), in, inlen)
      != OPENSSL_NPN_NEGOTIATED) {
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  }
  *out = selected;
  return SSL_TLSEXT_ERR_OK;
}
static inline void wisp_SSL_CTX_select_http11_alpn(SSL_CTX *ctx) {
  SSL_CTX_set_alpn_select_cb(ctx, wisp_alpn_select, NULL);
}

// ALPN on a server that also speaks HTTP/2 (RFC 8441): "h2" when the client offers it, else "http/1.1", in the
// server's order of preference (RFC 7540 section 3.3).
static const unsigned char wisp_alpn_h2_http11[] = {2, 'h', '2', 8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
static inline int wisp_alpn_select_h2(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                                      const unsigned char *in, unsigned int inlen, void *arg) {
  (void)ssl; (void)arg;
  unsigned char *selected = NULL;
  if (SSL_select_next_proto(&selected, outlen, wisp_alpn_h2_http11, sizeof(wisp_alpn_h2_http11), in, inlen)
      != OPENSSL_NPN_NEGOTIATED) {
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  }
  *out = selected;
  return SSL_TLSEXT_ERR_OK;
}
static inline void wisp_SSL_CTX_select_h2_or_http11_alpn(SSL_CTX *ctx) {
  SSL_CTX_set_alpn_select_cb(ctx, wisp_alpn_select_h2, NULL);
}
#endif
