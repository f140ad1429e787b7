// A real redis-server (Debian's /usr/bin/redis-server) on a free loopback port, for tests: started
// in a temporary directory with persistence off, stopped (or killed, and started again on the
// same port) by the test. A machine without redis-server fails the test: ./scripts/install-deps
// installs it.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

namespace dispatch::test_support {

class RedisServerProcess {
 public:
  explicit RedisServerProcess(std::string password = {}) : password_(std::move(password)) {
    dir_ = std::filesystem::temp_directory_path() /
           ("dispatch-redis-" + std::to_string(::getpid()) + "-" + std::to_string(++count()));
    std::filesystem::create_directories(dir_);
    for (int attempt = 0; attempt < 5 && pid_ <= 0; ++attempt) {
      port_ = free_port();
      start();
    }
  }
  ~RedisServerProcess() {
    stop();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  bool running() const { return pid_ > 0; }
  uint16_t port() const { return port_; }

  // Starts it on port() again (after kill()); true once it accepts connections.
  bool start() {
    const std::string binary = "/usr/bin/redis-server";
    if (::access(binary.c_str(), X_OK) != 0) {
      ADD_FAILURE() << binary << " is missing: ./scripts/install-deps installs redis-server";
      return false;
    }
    std::vector<std::string> args = {binary,    "--port",       std::to_string(port_),
                                     "--bind",  "127.0.0.1",    "--save",
                                     "",        "--appendonly", "no",
                                     "--dir",   dir_.string(),  "--loglevel",
                                     "warning", "--logfile",    (dir_ / "redis.log").string()};
    if (!password_.empty()) {
      args.push_back("--requirepass");
      args.push_back(password_);
    }
    pid_ = ::fork();
    if (pid_ == 0) {
      std::vector<char*> argv;
      for (std::string& arg : args) argv.push_back(arg.data());
      argv.push_back(nullptr);
      ::execv(binary.c_str(), argv.data());
      ::_exit(127);
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {  // exited: the port was taken?
        pid_ = -1;
        return false;
      }
      if (accepts()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    stop();
    return false;
  }

  void kill() { end(SIGKILL); }
  void stop() { end(SIGTERM); }

 private:
  static int& count() {
    static int value = 0;
    return value;
  }

  static uint16_t free_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
    ::close(fd);
    return ntohs(address.sin_port);
  }

  bool accepts() const {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port_);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const bool connected =
        ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
    ::close(fd);
    return connected;
  }

  void end(int signal_number) {
    if (pid_ <= 0) return;
    ::kill(pid_, signal_number);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
  }

  std::string password_;
  std::filesystem::path dir_;
  uint16_t port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace dispatch::test_support
