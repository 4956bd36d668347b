// File: lib/string_heap_bytes.h
//
// StringHeapBytes(s) is the heap storage a std::string holds: its capacity,
// or 0 while it fits the string's inline buffer. For memory accounting of
// buffers kept for reuse.
//
// Thread-safe (a pure function).
#ifndef LPFRAME_LIB_STRING_HEAP_BYTES_H_
#define LPFRAME_LIB_STRING_HEAP_BYTES_H_

#include <cstddef>
#include <string>

namespace lpframe {

// The capacity of an empty string: its inline buffer. A namespace-scope
// constant, so reading it costs no guard check per call (initialized
// dynamically: not for use by other static initializers).
inline const size_t kStringInlineCapacity = std::string().capacity();

inline size_t StringHeapBytes(const std::string& s) {
  return s.capacity() > kStringInlineCapacity ? s.capacity() : 0;
}

}  // namespace lpframe

#endif  // LPFRAME_LIB_STRING_HEAP_BYTES_H_
