// File: lib/sanitizers.h
//
// LPFRAME_ASAN is 1 in builds with AddressSanitizer (gcc or clang), else 0.
// LPFRAME_ASAN_POISON / LPFRAME_ASAN_UNPOISON mark memory that the program
// owns but must not touch (a pool block waiting in a cache), so that ASan
// reports an access to it; they do nothing in other builds.
#ifndef LPFRAME_LIB_SANITIZERS_H_
#define LPFRAME_LIB_SANITIZERS_H_

#if defined(__SANITIZE_ADDRESS__)
#define LPFRAME_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define LPFRAME_ASAN 1
#endif
#endif
#ifndef LPFRAME_ASAN
#define LPFRAME_ASAN 0
#endif

#if LPFRAME_ASAN
#include <sanitizer/asan_interface.h>
#define LPFRAME_ASAN_POISON(address, size) ASAN_POISON_MEMORY_REGION((address), (size))
#define LPFRAME_ASAN_UNPOISON(address, size) ASAN_UNPOISON_MEMORY_REGION((address), (size))
#else
#define LPFRAME_ASAN_POISON(address, size) ((void)(address), (void)(size))
#define LPFRAME_ASAN_UNPOISON(address, size) ((void)(address), (void)(size))
#endif

#endif  // LPFRAME_LIB_SANITIZERS_H_
