// The system nghttp2 (Debian's libnghttp2-dev, 1.52 or later: extended CONNECT, RFC 8441) for WebSockets over
// HTTP/2. Wisp writes the glue only; HPACK, framing, flow control and the connection's state are nghttp2's.
#ifndef WISP_CNGHTTP2_SHIM_H
#define WISP_CNGHTTP2_SHIM_H
#include <nghttp2/nghttp2.h>
#endif
