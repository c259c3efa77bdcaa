#ifndef COSMICAC_CSODIUM_SHIM_H
#define COSMICAC_CSODIUM_SHIM_H
#include <sodium.h>
#endif
