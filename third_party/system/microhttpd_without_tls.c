/*
 * Debian's static libmicrohttpd.a is built with HTTPS support, so it refers to GnuTLS even
 * when no TLS daemon is ever started. tcflow serves /metrics on a local address over plain
 * HTTP and never passes MHD_USE_TLS, so those paths are unreachable. Linking GnuTLS (and its
 * nettle/gmp/p11-kit/idn2 chain) statically would cost megabytes of router flash; these
 * definitions satisfy the references instead and fail every TLS operation. Only the
 * release build (static libraries) links this file.
 */
#include <stddef.h>
#include <stdlib.h>

#define TCFLOW_TLS_UNAVAILABLE (-1250) /* GNUTLS_E_UNIMPLEMENTED_FEATURE */

void *(*gnutls_malloc)(size_t) = malloc;

int gnutls_global_init(void) { return 0; }
void gnutls_global_deinit(void) {}
const char *gnutls_strerror(int error) {
  (void)error;
  return "TLS is not built into tcflow";
}

#define FAIL_INT(name) \
  int name() { return TCFLOW_TLS_UNAVAILABLE; }
#define NOTHING(name) \
  void name() {}
#define NULL_PTR(name) \
  void *name() { return NULL; }

FAIL_INT(gnutls_alpn_set_protocols)
FAIL_INT(gnutls_bye)
FAIL_INT(gnutls_certificate_allocate_credentials)
NOTHING(gnutls_certificate_free_credentials)
NOTHING(gnutls_certificate_server_set_request)
NOTHING(gnutls_certificate_set_dh_params)
NOTHING(gnutls_certificate_set_retrieve_function2)
NOTHING(gnutls_certificate_set_retrieve_function3)
FAIL_INT(gnutls_certificate_set_x509_key_mem)
FAIL_INT(gnutls_certificate_set_x509_key_mem2)
FAIL_INT(gnutls_certificate_set_x509_trust_mem)
FAIL_INT(gnutls_cipher_get)
FAIL_INT(gnutls_credentials_set)
NOTHING(gnutls_deinit)
NOTHING(gnutls_dh_params_deinit)
FAIL_INT(gnutls_dh_params_import_pkcs3)
FAIL_INT(gnutls_dh_params_init)
FAIL_INT(gnutls_handshake)
FAIL_INT(gnutls_init)
NOTHING(gnutls_priority_deinit)
FAIL_INT(gnutls_priority_init)
FAIL_INT(gnutls_priority_set)
FAIL_INT(gnutls_protocol_get_version)
FAIL_INT(gnutls_psk_allocate_server_credentials)
NOTHING(gnutls_psk_free_server_credentials)
NOTHING(gnutls_psk_set_server_credentials_function)
FAIL_INT(gnutls_record_check_pending)
FAIL_INT(gnutls_record_get_direction)
FAIL_INT(gnutls_record_recv)
FAIL_INT(gnutls_record_send)
NULL_PTR(gnutls_session_get_ptr)
NOTHING(gnutls_session_set_ptr)
NOTHING(gnutls_transport_set_int2)
