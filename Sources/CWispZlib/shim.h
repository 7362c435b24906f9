// The system zlib (Debian's zlib1g-dev) for permessage-deflate. deflateInit2 and inflateInit2 are macros that
// Swift cannot call; these inline wrappers pass the version and struct size as the macros do.
#ifndef WISP_CZLIB_SHIM_H
#define WISP_CZLIB_SHIM_H
#include <zlib.h>

static inline int wisp_deflateInit2(z_streamp stream, int level, int windowBits, int memLevel, int strategy) {
  return deflateInit2(stream, level, Z_DEFLATED, windowBits, memLevel, strategy);
}

static inline int wisp_inflateInit2(z_streamp stream, int windowBits) {
  return inflateInit2(stream, windowBits);
}
#endif
