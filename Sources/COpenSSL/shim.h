#ifndef KILN_COPENSSL_SHIM_H
#define KILN_COPENSSL_SHIM_H
// OpenSSL through a system library target. Several of OpenSSL's public
// "functions" are macros over SSL_ctrl/SSL_CTX_ctrl, which Swift cannot call;
// the inline wrappers below give them real function signatures.
#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

static inline long kiln_SSL_CTX_set_min_proto_version(SSL_CTX *ctx, int version) {
    return SSL_CTX_set_min_proto_version(ctx, version);
}
static inline long kiln_SSL_CTX_set_max_proto_version(SSL_CTX *ctx, int version) {
    return SSL_CTX_set_max_proto_version(ctx, version);
}
static inline long kiln_SSL_CTX_set_options(SSL_CTX *ctx, unsigned long options) {
    return (long)SSL_CTX_set_options(ctx, options);
}
static inline long kiln_SSL_CTX_set_mode(SSL_CTX *ctx, long mode) {
    return SSL_CTX_set_mode(ctx, mode);
}
static inline long kiln_SSL_CTX_set_session_cache_mode(SSL_CTX *ctx, long mode) {
    return SSL_CTX_set_session_cache_mode(ctx, mode);
}
static inline int kiln_BIO_pending(BIO *bio) { return (int)BIO_pending(bio); }
static inline int kiln_BIO_set_mem_eof_return(BIO *bio, int value) {
    return (int)BIO_set_mem_eof_return(bio, value);
}
static inline unsigned long kiln_SSL_OP_NO_RENEGOTIATION(void) { return SSL_OP_NO_RENEGOTIATION; }
static inline unsigned long kiln_SSL_OP_NO_COMPRESSION(void) { return SSL_OP_NO_COMPRESSION; }
static inline unsigned long kiln_SSL_OP_CIPHER_SERVER_PREFERENCE(void) { return SSL_OP_CIPHER_SERVER_PREFERENCE; }
static inline unsigned long kiln_SSL_OP_NO_TICKET(void) { return SSL_OP_NO_TICKET; }
// Ephemeral Diffie-Hellman parameters sized to the certificate's key, for the DHE-RSA suites
// of Mozilla's intermediate list.
static inline long kiln_SSL_CTX_set_dh_auto(SSL_CTX *ctx, int onoff) {
    return SSL_CTX_set_dh_auto(ctx, onoff);
}
static inline int kiln_SSL_CTX_set1_groups_list(SSL_CTX *ctx, const char *groups) {
    return (int)SSL_CTX_set1_groups_list(ctx, groups);
}
// The reason part of a packed OpenSSL error code (a macro on some OpenSSL versions).
static inline int kiln_ERR_GET_REASON(unsigned long code) { return ERR_GET_REASON(code); }
// Client side, used by tests: the SNI name sent in the ClientHello.
static inline long kiln_SSL_set_tlsext_host_name(SSL *ssl, const char *name) {
    return SSL_set_tlsext_host_name(ssl, name);
}
#endif
