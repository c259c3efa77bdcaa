#ifndef COSMICAC_COPENSSL_SHIM_H
#define COSMICAC_COPENSSL_SHIM_H
#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#endif
