#include "lib/server/testing/test_services.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "proto/testing/test_service.pb.h"

namespace lpframe {
namespace servertest {

using testing::CatRequest;
using testing::EchoReply;
using testing::EchoRequest;
using testing::SumReply;
using testing::SumRequest;

std::string ServiceBody(uint64_t size, uint32_t seed) {
  std::string body(size, '\0');
  uint64_t x = seed * 2654435761u + 1;
  for (uint64_t i = 0; i < size; ++i) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    body[i] = static_cast<char>(x >> 56);
  }
  return body;
}

absl::Status RegisterTestServices(ServiceRouter& router, std::atomic<int>* one_way_seen) {
  absl::Status s1 = router.Handle<EchoRequest, EchoReply>(
      [one_way_seen](const RequestContext& ctx, const EchoRequest& req) -> absl::StatusOr<EchoReply> {
        if (req.delay_ms() > 0) absl::SleepFor(absl::Milliseconds(req.delay_ms()));
        if (ctx.one_way() && one_way_seen != nullptr) one_way_seen->fetch_add(1);
        if (req.fail_code() != 0) {
          return absl::Status(static_cast<absl::StatusCode>(req.fail_code()), req.fail_message());
        }
        EchoReply reply;
        reply.set_text(req.text());
        reply.set_request_id(ctx.request_id());
        reply.set_has_deadline(ctx.deadline() != absl::InfiniteFuture());
        reply.set_peer(ctx.peer().address);
        if (!req.metadata_key().empty()) {
          auto v = ctx.Metadata(req.metadata_key());
          if (v) reply.set_metadata_value(std::string(*v));
        }
        return reply;
      });
  if (!s1.ok()) return s1;
  absl::Status s2 = router.Handle<SumRequest, SumReply>(
      [](const RequestContext&, const SumRequest& req) -> absl::StatusOr<SumReply> {
        SumReply reply;
        for (int64_t v : req.values()) reply.set_sum(reply.sum() + v);
        return reply;
      });
  if (!s2.ok()) return s2;
  absl::Status s3 = router.HandleStream<CatRequest>(
      [](const RequestContext&, const CatRequest& req, ResponseStream& out) -> absl::Status {
        const std::string body = ServiceBody(req.size(), req.seed());
        const size_t step = req.write_bytes() ? req.write_bytes() : 65536;
        for (size_t at = 0; at < body.size(); at += step) {
          if (req.fail_after_bytes() != 0 && at >= req.fail_after_bytes()) {
            return absl::InternalError(absl::StrCat("cat failed after ", at, " bytes"));
          }
          absl::Status s = out.Write(absl::Cord(body.substr(at, step)));
          if (!s.ok()) return s;
        }
        return absl::OkStatus();  // the router calls Finish()
      });
  return s3;
}

RouterTestServer::RouterTestServer(ServiceRouterOptions router_options,
                                   StreamServerOptions server_options, const std::string& uri,
                                   std::atomic<int>* one_way_seen)
    : router_(router_options) {
  absl::Status registered = RegisterTestServices(router_, one_way_seen);
  EXPECT_TRUE(registered.ok()) << registered;
  auto server = StreamServer::Create(uri, server_options, router_.factory());
  EXPECT_TRUE(server.ok()) << server.status();
  server_ = *std::move(server);
  thread_ = std::thread([this] { EXPECT_TRUE(server_->ServeForever().ok()); });
}

void RouterTestServer::Shutdown() {
  server_->Shutdown();
  if (thread_.joinable()) thread_.join();
}

RouterTestServer::~RouterTestServer() {
  Shutdown();
  EXPECT_TRUE(router_.WaitIdle(absl::Now() + absl::Seconds(10)).ok());
  server_.reset();
}

}  // namespace servertest
}  // namespace lpframe
