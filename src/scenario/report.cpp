#include "scenario/report.h"

#include <fmt/format.h>

namespace dispatch::scenario {

namespace {

std::string indent(const std::string& text, std::string_view prefix) {
  std::string out;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    out += prefix;
    out.append(text, start, end - start);
    out += '\n';
    start = end + 1;
  }
  return out;
}

std::string xml_escaped(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        // XML 1.0 allows no control characters but tab, newline and carriage return.
        if (static_cast<unsigned char>(c) < 0x20 && c != '\t' && c != '\n' && c != '\r') {
          out += fmt::format("\\u{:04x}", static_cast<unsigned char>(c));
        } else {
          out += c;
        }
    }
  }
  return out;
}

}  // namespace

void print_report(std::ostream& out, const std::vector<FileResult>& results) {
  size_t passed = 0;
  size_t failed = 0;
  size_t bad_files = 0;
  for (const FileResult& file : results) {
    out << file.path << "\n";
    if (!file.errors.empty()) {
      ++bad_files;
      for (const auto& error : file.errors) out << "  " << config::format_error(error) << "\n";
      out << "  error: nothing in this file ran\n";
      continue;
    }
    for (const ScenarioResult& scenario : file.scenarios) {
      if (scenario.passed) {
        ++passed;
        out << "  ok    " << scenario.name << "\n";
        continue;
      }
      ++failed;
      out << "  FAIL  " << scenario.name << "\n";
      out << "        " << scenario.failure << "\n";
      out << indent(scenario.details, "      ");
    }
  }
  out << fmt::format("{} scenario{}: {} passed, {} failed", passed + failed,
                     passed + failed == 1 ? "" : "s", passed, failed);
  if (bad_files > 0)
    out << fmt::format(", {} file{} not run", bad_files, bad_files == 1 ? "" : "s");
  out << "\n";
}

int exit_code(const std::vector<FileResult>& results) {
  int code = 0;
  for (const FileResult& file : results) {
    if (!file.errors.empty()) return 2;
    for (const ScenarioResult& scenario : file.scenarios) {
      if (!scenario.passed) code = 1;
    }
  }
  return code;
}

std::string junit_xml(const std::vector<FileResult>& results) {
  size_t tests = 0;
  size_t failures = 0;
  size_t errors = 0;
  std::string suites;
  for (const FileResult& file : results) {
    size_t file_failures = 0;
    std::string cases;
    if (!file.errors.empty()) {
      ++errors;
      ++tests;
      std::string text;
      for (const auto& error : file.errors) text += config::format_error(error) + "\n";
      cases += fmt::format(
          "    <testcase name=\"(scenario file)\" classname=\"{}\">\n"
          "      <error message=\"the scenario file or its config could not be read\">{}</error>\n"
          "    </testcase>\n",
          xml_escaped(file.path), xml_escaped(text));
      suites += fmt::format(
          "  <testsuite name=\"{}\" tests=\"1\" failures=\"0\" errors=\"1\">\n{}  </testsuite>\n",
          xml_escaped(file.path), cases);
      continue;
    }
    for (const ScenarioResult& scenario : file.scenarios) {
      ++tests;
      cases += fmt::format("    <testcase name=\"{}\" classname=\"{}\"", xml_escaped(scenario.name),
                           xml_escaped(file.path));
      if (scenario.passed) {
        cases += "/>\n";
        continue;
      }
      ++file_failures;
      cases += fmt::format(">\n      <failure message=\"{}\">{}</failure>\n    </testcase>\n",
                           xml_escaped(scenario.failure),
                           xml_escaped(scenario.failure + "\n" + scenario.details));
    }
    failures += file_failures;
    suites += fmt::format(
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"0\">\n{}  </testsuite>\n",
        xml_escaped(file.path), file.scenarios.size(), file_failures, cases);
  }
  return fmt::format(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<testsuites name=\"dispatch test\" tests=\"{}\" failures=\"{}\" errors=\"{}\">\n{}"
      "</testsuites>\n",
      tests, failures, errors, suites);
}

}  // namespace dispatch::scenario
