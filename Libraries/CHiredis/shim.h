#ifndef COSMICAC_CHIREDIS_SHIM_H
#define COSMICAC_CHIREDIS_SHIM_H
#include <hiredis/hiredis.h>
#include <hiredis/async.h>
#endif
