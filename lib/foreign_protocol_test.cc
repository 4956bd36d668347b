// Tests for recognizing other protocols' bytes (PROTOCOL.md §7.4).
#include "lib/foreign_protocol.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/escaping.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace lpframe {
namespace {

using ::testing::HasSubstr;

TEST(ForeignProtocolTest, Describe) {
  struct Case {
    std::string bytes;
    std::string word;  // empty: not recognized
  };
  const Case cases[] = {
      {"GET / HTTP/1.1\r\n", "HTTP request (GET)"},
      {"GET ", "HTTP request (GET)"},
      {"POST", "HTTP request (POST)"},
      {"POST /x HTTP/1.1", "HTTP request (POST)"},
      {"PUT /x", "HTTP request (PUT)"},
      {"HEAD /", "HTTP request (HEAD)"},
      {"DELETE /", "HTTP request (DELETE)"},
      {"OPTIONS *", "HTTP request (OPTIONS)"},
      {"PATCH /", "HTTP request (PATCH)"},
      {"CONNECT host:443", "HTTP request (CONNECT)"},
      {"TRACE /", "HTTP request (TRACE)"},
      {"HTTP/1.1 400 Bad Request", "HTTP response"},
      {"PRI * HTTP/2.0\r\n", "HTTP/2"},
      {"SSH-2.0-OpenSSH", "SSH"},
      {std::string("\x16\x03\x00", 3), "TLS"},
      {std::string("\x16\x03\x01\x00\xa5", 5), "TLS"},
      {std::string("\x16\x03\x04", 3), "TLS"},
      // Not recognized.
      {std::string("\x16\x03\x05", 3), ""},
      {std::string("\x16\x03", 2), ""},
      {std::string("\x17\x03\x01", 3), ""},
      {"GET", ""},
      {"GETX", ""},
      {"get /", ""},
      {"PUTS", ""},
      {"LPFR", ""},
      {"", ""},
      {std::string(8, '\0'), ""},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(absl::CHexEscape(c.bytes));
    const std::string got(DescribeForeignProtocol(c.bytes));
    if (c.word.empty()) {
      EXPECT_EQ(got, "");
    } else {
      EXPECT_THAT(got, HasSubstr(c.word));
    }
  }
}

TEST(ForeignProtocolTest, ProperPrefixes) {
  struct Case {
    std::string bytes;
    bool prefix;
  };
  const Case cases[] = {
      {"", true},
      {"G", true},
      {"GE", true},
      {"GET", true},
      {"GET ", false},  // complete, not a proper prefix
      {"P", true},      // POST, PUT, PATCH, PRI
      {"PR", true},
      {"PX", false},
      {"H", true},
      {"HTT", true},
      {"S", true},
      {"SSH", true},
      {"D", true},
      {"O", true},
      {"C", true},
      {"T", true},
      {std::string("\x16", 1), true},
      {std::string("\x16\x03", 2), true},
      {std::string("\x16\x03\x01", 3), false},
      {std::string("\x16\x04", 2), false},
      {"L", false},
      {"X", false},
      {"g", false},
      {std::string("\0", 1), false},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(absl::CHexEscape(c.bytes));
    EXPECT_EQ(IsForeignProtocolPrefix(c.bytes), c.prefix);
  }
}

// Every proper prefix of a recognized signature is a prefix, and the
// signature itself is recognized.
TEST(ForeignProtocolTest, PrefixesLeadToRecognition) {
  const std::string signatures[] = {"GET ", "POST", "PUT ", "HEAD", "DELE", "OPTI", "PATC",
                                    "CONN", "TRAC", "HTTP", "PRI ", "SSH-",
                                    std::string("\x16\x03\x02", 3)};
  for (const std::string& sig : signatures) {
    SCOPED_TRACE(absl::CHexEscape(sig));
    for (size_t k = 0; k < sig.size(); ++k) {
      EXPECT_TRUE(IsForeignProtocolPrefix(sig.substr(0, k))) << k;
      EXPECT_EQ(DescribeForeignProtocol(sig.substr(0, k)), "") << k;
    }
    EXPECT_NE(DescribeForeignProtocol(sig), "");
  }
}

TEST(ForeignProtocolTest, EscapeBytesForMessage) {
  struct Case {
    std::string bytes;
    size_t max;
    std::string want;
  };
  const Case cases[] = {
      {"abc", 16, "abc"},
      {"", 4, ""},
      {std::string("\x00\x1f\x7f\x80\xff", 5), 16, "\\x00\\x1f\\x7f\\x80\\xff"},
      {"a\"b\\c", 16, "a\\x22b\\x5cc"},
      {"GET / HTTP/1.1\r\n", 16, "GET / HTTP/1.1\\x0d\\x0a"},
      {"abcdef", 4, "abcd..."},
      {"abcd", 4, "abcd"},
      {"abc", 0, "..."},
      {" ~", 2, " ~"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(absl::CHexEscape(c.bytes));
    EXPECT_EQ(EscapeBytesForMessage(c.bytes, c.max), c.want);
  }
}

}  // namespace
}  // namespace lpframe
