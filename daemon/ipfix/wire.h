// Big-endian loads and stores for IPFIX's network byte order, on unaligned bytes.

#ifndef TCFLOW_DAEMON_IPFIX_WIRE_H_
#define TCFLOW_DAEMON_IPFIX_WIRE_H_

#include <cstdint>
#include <cstring>

namespace tcflow::ipfix {

inline void Put8(uint8_t* p, uint8_t v) { p[0] = v; }
inline void Put16(uint8_t* p, uint16_t v) {
  v = __builtin_bswap16(v);
  std::memcpy(p, &v, 2);
}
inline void Put32(uint8_t* p, uint32_t v) {
  v = __builtin_bswap32(v);
  std::memcpy(p, &v, 4);
}
inline void Put64(uint8_t* p, uint64_t v) {
  v = __builtin_bswap64(v);
  std::memcpy(p, &v, 8);
}
inline uint16_t Get16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return __builtin_bswap16(v);
}
inline uint32_t Get32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return __builtin_bswap32(v);
}
inline uint64_t Get64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return __builtin_bswap64(v);
}

// RFC 7011 constants.
inline constexpr uint16_t kIpfixVersion = 10;
inline constexpr size_t kMessageHeaderSize = 16;
inline constexpr size_t kSetHeaderSize = 4;
inline constexpr uint16_t kTemplateSetId = 2;
inline constexpr uint16_t kOptionsTemplateSetId = 3;
inline constexpr uint16_t kMinDataSetId = 256;

}  // namespace tcflow::ipfix

#endif  // TCFLOW_DAEMON_IPFIX_WIRE_H_
