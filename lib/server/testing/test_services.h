// File: lib/server/testing/test_services.h
//
// Test services for the typed-service tests (testonly): handlers for the
// messages of proto/testing/test_service.proto registered on a
// ServiceRouter, and a StreamServer running that router on a thread.
//
//   Echo:  EchoRequest -> EchoReply (text, request id, deadline, peer,
//          metadata; delay_ms sleeps; fail_code fails with that code)
//   Sum:   SumRequest -> SumReply
//   Cat:   CatRequest -> a streamed body ServiceBody(size, seed), written in
//          write_bytes pieces, failing after fail_after_bytes if set
#ifndef LPFRAME_LIB_SERVER_TESTING_TEST_SERVICES_H_
#define LPFRAME_LIB_SERVER_TESTING_TEST_SERVICES_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "lib/server/service_router.h"
#include "lib/server/stream_server.h"

namespace lpframe {
namespace servertest {

// Deterministic body bytes of the Cat service.
std::string ServiceBody(uint64_t size, uint32_t seed);

// Registers Echo, Sum and Cat. `one_way_seen` (optional) counts Echo
// requests that arrived as one-way messages.
absl::Status RegisterTestServices(ServiceRouter& router,
                                  std::atomic<int>* one_way_seen = nullptr);

// A StreamServer serving a ServiceRouter with the test services. The
// destructor shuts down, joins and waits for the router's executor.
class RouterTestServer {
 public:
  RouterTestServer(ServiceRouterOptions router_options, StreamServerOptions server_options,
                   const std::string& uri, std::atomic<int>* one_way_seen = nullptr);
  ~RouterTestServer();
  // Shutdown() and join ServeForever().
  void Shutdown();
  ServiceRouter& router() { return router_; }
  StreamServer& server() { return *server_; }
  const std::string& address() const { return server_->address(); }

 private:
  ServiceRouter router_;
  std::unique_ptr<StreamServer> server_;
  std::thread thread_;
};

}  // namespace servertest
}  // namespace lpframe

#endif  // LPFRAME_LIB_SERVER_TESTING_TEST_SERVICES_H_
