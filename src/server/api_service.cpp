#include "server/api_service.h"

#include <algorithm>
#include <limits>
#include <memory>
#include <variant>
#include <vector>

#include "api/api_body.h"
#include "api/api_request.h"
#include "cluster/cluster_node.h"
#include "config/room_policy.h"
#include "delivery/fanout.h"
#include "delivery/local_rooms.h"
#include "delivery/loop_delivery.h"
#include "frames/server_frames.h"
#include "log/log.h"
#include "pipeline/compiled_config.h"
#include "pipeline/room_publish.h"
#include "protocol/websocket.h"
#include "server/config_reloader.h"
#include "server/engine.h"
#include "server/event_loop.h"
#include "session/session.h"
#include "template/json_escape.h"

namespace dispatch {

namespace {

using Answer = std::function<void(std::string)>;

void append_string(std::string& out, std::string_view text) {
  out += '"';
  append_json_escaped(out, text);
  out += '"';
}

void publish(EventLoop& loop, const api::PublishItem& item) {
  LoopDelivery& delivery = loop.delivery();
  switch (item.kind) {
    case api::TargetKind::room:
      publish_room_message(loop, item.name, item.event, item.payload_json, FrameOrigin{});
      break;
    case api::TargetKind::user:
      publish_to_user(delivery, item.name, build_event_frame(item.event, item.payload_json));
      break;
    case api::TargetKind::everyone:
      publish_to_all(delivery, build_event_frame(item.event, item.payload_json));
      break;
  }
}

// A single publish answers {"ok":true} or its error (400); a batch answers 200 with
// {"results":[{"ok":true} | {"error":…,"message":…,"field":…}, …]} in the body's order.
void serve_publish(EventLoop& loop, std::string_view body, const Answer& answer) {
  auto read = api::read_publish_body(body);
  if (auto* refused = std::get_if<api::ApiError>(&read)) {
    answer(api::error_response(*refused));
    return;
  }
  const api::PublishBody& publishes = std::get<api::PublishBody>(read);
  if (!publishes.batch) {
    const auto& item = publishes.items.front();
    if (const auto* refused = std::get_if<api::ApiError>(&item)) {
      answer(api::error_response(*refused));
      return;
    }
    publish(loop, std::get<api::PublishItem>(item));
    answer(api::json_response(200, "{\"ok\":true}"));
    return;
  }
  std::string results = "{\"results\":[";
  size_t published = 0;
  for (const auto& item : publishes.items) {
    if (results.back() != '[') results += ',';
    if (const auto* refused = std::get_if<api::ApiError>(&item)) {
      results += api::error_json(*refused);
      continue;
    }
    publish(loop, std::get<api::PublishItem>(item));
    ++published;
    results += "{\"ok\":true}";
  }
  results += "],\"published\":" + std::to_string(published) + "}";
  answer(api::json_response(200, results));
}

void serve_disconnect(EventLoop& loop, std::string_view body, const Answer& answer) {
  auto read = api::read_disconnect_body(body);
  if (auto* refused = std::get_if<api::ApiError>(&read)) {
    answer(api::error_response(*refused));
    return;
  }
  const api::DisconnectRequest& request = std::get<api::DisconnectRequest>(read);
  const size_t connections = loop.delivery().directory().user_connections(request.user).size();
  disconnect_user(loop.delivery(), request.user, ws::close_code::disconnected, request.reason);
  log::info("user disconnected by the server API")
      .field("user_id", request.user)
      .field("connections", connections);
  std::string response = "{\"user\":";
  append_string(response, request.user);
  response += ",\"connections\":" + std::to_string(connections) + "}";
  answer(api::json_response(200, response));
}

// The members each loop reports, gathered on the loop the request came in on.
struct RoomMembers {
  struct Member {
    std::string connection_id;
    std::string user_id;
  };
  std::string room;
  bool presence = false;  // the room's policy has `presence: true`: the answer lists its users
  std::optional<HistoryPosition> history;  // a history room: its last offset and epoch
  std::vector<Member> members;
  unsigned loops_to_answer = 0;
  Answer answer;
};

std::vector<RoomMembers::Member> local_members(EventLoop& loop, const std::string& room) {
  std::vector<RoomMembers::Member> members;
  if (const LocalRoom* local = loop.delivery().rooms().find(room)) {
    for (const Session* session : local->members) {
      members.push_back({session->id(), session->user_id()});
    }
  }
  return members;
}

// {"room":…,"connection_count":N,"user_count":M,"connections":[{"id":…,"user":…},…]}, and
// "users":[…] for a presence room.
std::string room_answer(RoomMembers& gathered) {
  auto& members = gathered.members;
  std::sort(members.begin(), members.end(),
            [](const auto& a, const auto& b) { return a.connection_id < b.connection_id; });
  std::vector<std::string_view> users;
  for (const auto& member : members) users.push_back(member.user_id);
  std::sort(users.begin(), users.end());
  users.erase(std::unique(users.begin(), users.end()), users.end());
  std::string body = "{\"room\":";
  append_string(body, gathered.room);
  body += ",\"connection_count\":" + std::to_string(members.size()) +
          ",\"user_count\":" + std::to_string(users.size()) + ",\"connections\":[";
  for (size_t i = 0; i < members.size(); ++i) {
    if (i > 0) body += ',';
    body += "{\"id\":";
    append_string(body, members[i].connection_id);
    body += ",\"user\":";
    append_string(body, members[i].user_id);
    body += '}';
  }
  body += ']';
  if (gathered.presence) {
    body += ",\"users\":[";
    for (size_t i = 0; i < users.size(); ++i) {
      if (i > 0) body += ',';
      append_string(body, users[i]);
    }
    body += ']';
  }
  if (gathered.history) {
    body += ",\"offset\":" + std::to_string(gathered.history->offset) + ",\"epoch\":";
    append_string(body, gathered.history->epoch);
  }
  body += '}';
  return api::json_response(200, body);
}

// Each loop of this node with members lists them on its own thread; in cluster mode the other
// nodes with members answer too (cluster/cluster_node.h, query_room: within a second).
void serve_room_info(EventLoop& origin, const std::string& room, Answer answer) {
  Engine& engine = origin.engine();
  const uint64_t loops = engine.directory().room_loops(room);
  auto gathered = std::make_shared<RoomMembers>();
  gathered->room = room;
  const auto& policies = origin.config().config().rooms;
  const config::RoomPolicy* policy =
      policies.empty() ? nullptr : config::find_room_policy(policies, room);
  gathered->presence = policy && policy->presence;
  gathered->answer = std::move(answer);
  if (policy && policy->history_size > 0) {
    if (cluster::ClusterNode* node = engine.cluster()) {
      ++gathered->loops_to_answer;  // the position, from Redis
      node->read_history(room, std::numeric_limits<uint64_t>::max(), policy->history_ttl,
                         [&origin, gathered](std::optional<HistoryRead> read) {
                           origin.post([gathered, read = std::move(read)]() mutable {
                             gathered->history = read ? read->position : HistoryPosition{};
                             if (--gathered->loops_to_answer == 0) {
                               gathered->answer(room_answer(*gathered));
                             }
                           });
                         });
    } else {
      gathered->history = engine.history()
                              .with_room(room, origin.clock().now(), true,
                                         [](RoomLog& log) { return log.position(); })
                              .value_or(HistoryPosition{});
    }
  }
  for (unsigned i = 0; i < engine.loop_count(); ++i) {
    if (loops & (uint64_t{1} << i)) ++gathered->loops_to_answer;
  }
  if (cluster::ClusterNode* node = engine.cluster()) {
    ++gathered->loops_to_answer;
    node->query_room(origin.index(), room, [gathered](std::vector<cluster::RoomMember> members) {
      for (auto& member : members) {
        gathered->members.push_back({std::move(member.connection), std::move(member.user)});
      }
      if (--gathered->loops_to_answer == 0) gathered->answer(room_answer(*gathered));
    });
  }
  if (gathered->loops_to_answer == 0) {
    gathered->answer(room_answer(*gathered));
    return;
  }
  for (unsigned i = 0; i < engine.loop_count(); ++i) {
    if (!(loops & (uint64_t{1} << i))) continue;
    EventLoop& member_loop = engine.loop(i);
    member_loop.post([&member_loop, &origin, gathered] {
      auto members = local_members(member_loop, gathered->room);
      origin.post([gathered, members = std::move(members)]() mutable {
        for (auto& member : members) gathered->members.push_back(std::move(member));
        if (--gathered->loops_to_answer == 0) gathered->answer(room_answer(*gathered));
      });
    });
  }
}

// {"room":…,"offset":N,"epoch":…,"complete":true,"messages":[<frame>,…]}: the kept messages
// after `since`, each as its clients received it; `complete` is false when some after `since`
// are no longer kept (the client must reload its state).
std::string history_body(const std::string& room, const HistoryRead& found) {
  std::string body = "{\"room\":";
  append_string(body, room);
  body += ",\"offset\":" + std::to_string(found.position.offset) + ",\"epoch\":";
  append_string(body, found.position.epoch);
  body += found.complete ? ",\"complete\":true" : ",\"complete\":false";
  body += ",\"messages\":[";
  for (size_t i = 0; i < found.frames.size(); ++i) {
    if (i > 0) body += ',';
    body += ws::server_frame_payload(found.frames[i]->bytes());
  }
  body += "]}";
  return api::json_response(200, body);
}

// The room's kept messages after `since`: from memory on a single node, from Redis in cluster
// mode (answered on this loop).
void serve_history(EventLoop& loop, const std::string& room, uint64_t since, Answer answer) {
  const std::optional<HistoryLimits> limits = loop.config().history_limits(room);
  if (!limits) {
    answer(api::error_response(api::ApiError{
        404,
        "no_history",
        "room " + room + " keeps no history: give its room policy `history: {size, ttl}`",
        {},
        {}}));
    return;
  }
  if (cluster::ClusterNode* node = loop.engine().cluster()) {
    node->read_history(room, since, limits->ttl,
                       [&loop, room, answer = std::move(answer)](std::optional<HistoryRead> read) {
                         loop.post([room, answer, read = std::move(read)] {
                           if (!read) {
                             answer(api::error_response(
                                 api::ApiError{503,
                                               "redis_unavailable",
                                               "the room's Redis shard cannot be asked: try again",
                                               {},
                                               {}}));
                             return;
                           }
                           answer(history_body(room, *read));
                         });
                       });
    return;
  }
  const std::optional<HistoryRead> read =
      read_history(loop.engine().history(), room, loop.clock().now(), since);
  answer(history_body(room, read ? *read : HistoryRead{}));
}

std::string reload_answer(const ReloadResult& result) {
  const std::string version = std::to_string(result.config_version);
  switch (result.outcome) {
    case ReloadResult::Outcome::applied: {
      std::string body = "{\"config_version\":" + version + ",\"warnings\":[";
      for (size_t i = 0; i < result.warnings.size(); ++i) {
        if (i > 0) body += ',';
        append_string(body, result.warnings[i]);
      }
      return api::json_response(200, body + "]}");
    }
    case ReloadResult::Outcome::invalid: {
      std::string body =
          "{\"error\":\"invalid_config\",\"message\":\"the config has errors; the running "
          "config (version " +
          version + ") stays\",\"config_version\":" + version + ",\"errors\":[";
      for (size_t i = 0; i < result.errors.size(); ++i) {
        if (i > 0) body += ',';
        append_string(body, result.errors[i]);
      }
      return api::json_response(400, body + "]}");
    }
    case ReloadResult::Outcome::drops_events_in_use: {
      std::string body = "{\"error\":\"events_in_use\",\"message\":";
      append_string(body,
                    "the new config drops events clients are using (" + result.events_in_use +
                        "): their messages would be answered unknown_event. To apply it anyway, "
                        "POST /api/reload again within 60 s with the same config file content");
      body += ",\"events\":";
      append_string(body, result.events_in_use);
      body += ",\"config_version\":" + version + "}";
      return api::json_response(409, body);
    }
  }
  return api::json_response(500, "{\"error\":\"internal\"}");
}

void serve_reload(EventLoop& loop, Answer answer) {
  const ReloadRequester& requester = loop.engine().reload_requester();
  if (!requester) {
    answer(
        api::error_response({503, "unavailable", "this server cannot reload its config", {}, {}}));
    return;
  }
  requester([&loop, answer = std::move(answer)](const ReloadResult& result) {
    loop.post(
        [answer, response = reload_answer(result)]() mutable { answer(std::move(response)); });
  });
}

}  // namespace

void serve_api_request(EventLoop& loop, const api::Request& request, std::string_view body,
                       Answer answer) {
  switch (request.route) {
    case api::Route::publish:
      serve_publish(loop, body, answer);
      return;
    case api::Route::disconnect:
      serve_disconnect(loop, body, answer);
      return;
    case api::Route::room_info:
      serve_room_info(loop, request.room, std::move(answer));
      return;
    case api::Route::room_history:
      serve_history(loop, request.room, request.since, std::move(answer));
      return;
    case api::Route::reload:
      serve_reload(loop, std::move(answer));
      return;
  }
}

}  // namespace dispatch
