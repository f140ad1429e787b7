// Serving the files of server.static_dir over plain HTTP on the WebSocket port, for demo pages
// (examples/chat). GET and HEAD only; `/` and directories mean `index.html`; the percent-decoded
// path may not leave the directory (no `..`, no symlink out of it); one request per connection.
#pragma once

#include <string>
#include <string_view>

namespace dispatch {

// The whole HTTP response for `target` (the request target, e.g. "/chat.js?v=2").
std::string static_file_response(const std::string& root, std::string_view target, bool head_only);

}  // namespace dispatch
