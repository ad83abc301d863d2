// http_server.cpp - a minimal HTTP/1.0 file server in the manner of Python's http.server
// (`python3 -m http.server --bind 127.0.0.1 8000 --directory DIR`): pysock::threading_tcp_server
// with a stream handler, whose rfile.readline() reads the request line and the headers.
//
// What it shows: line-oriented protocols without hand-written framing. The request line is read
// with readline(65537), as http.server does, so a line longer than 65,536 bytes is answered
// "414"; a header line that long, or more than 100 headers, "431" (http.client's limits). GET and
// HEAD serve files and directory listings under DIR; any other method is "501", a malformed
// request "400", a path outside DIR or missing "404". Each response is HTTP/1.0: the connection
// closes after it. One log line per request on stderr, as http.server writes it:
//     127.0.0.1 - - [04/Dec/2026 17:00:00] "GET /hello.txt HTTP/1.1" 200 -
//
// Build: c++ -std=c++17 -Iinclude examples/http_server.cpp -pthread -o http_server
// Run:   ./http_server [--bind ADDRESS] [--directory DIR] [PORT]   (defaults: 127.0.0.1, ., 8000)
//        then: curl http://127.0.0.1:8000/   or   python3 -c "import urllib.request as u;
//        print(u.urlopen('http://127.0.0.1:8000/').read())"
#include <pysock/socket.hpp>

#include "support.hpp"

#include <algorithm>
#include <cctype>
#include <csignal>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;

namespace {

constexpr std::size_t max_line = 65536;  // http.server's and http.client's _MAXLINE
constexpr int max_headers = 100;         // http.client's _MAXHEADERS
fs::path root;

// <ctime>'s gmtime/localtime share one buffer between threads: one caller at a time.
std::mutex time_mutex;
std::string format_time(const char* format, bool utc) {
    std::lock_guard<std::mutex> lock(time_mutex);
    std::time_t now = std::time(nullptr);
    char text[64];
    std::strftime(text, sizeof text, format, utc ? std::gmtime(&now) : std::localtime(&now));
    return text;
}

//  > def log_request(self, code='-', size='-'):  (one write: lines of threads do not mix)
void log_request(const pysock::address& client, const std::string& requestline, int code) {
    std::string line = client.host + " - - [" + format_time("%d/%b/%Y %H:%M:%S", false) + "] \"" +
                       requestline + "\" " + std::to_string(code) + " -\n";
    std::cerr << line << std::flush;
}

const char* reason(int code) {
    switch (code) {
    case 200: return "OK";
    case 301: return "Moved Permanently";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 414: return "Request-URI Too Long";
    case 431: return "Request Header Fields Too Large";
    case 501: return "Not Implemented";
    default: return "Internal Server Error";
    }
}

//  > def send_response(self, code, message=None): ... def end_headers(self):
// The status line and headers go out in one write, as http.server's _headers_buffer does.
void send_head(pysock::stream_request& r, int code,
               const std::map<std::string, std::string>& headers) {
    std::string head = "HTTP/1.0 " + std::to_string(code) + " " + reason(code) + "\r\n";
    head += "Server: pysock-http/1.0\r\n";
    head += "Date: " + format_time("%a, %d %b %Y %H:%M:%S GMT", true) + "\r\n";
    for (const auto& [name, value] : headers) head += name + ": " + value + "\r\n";
    head += "\r\n";
    r.wfile.write(head);
}

std::string html_escape(const std::string& text) {
    std::string out;
    for (char c : text) {
        switch (c) {
        case '&': out += "&amp;"; break;
        case '<': out += "&lt;"; break;
        case '>': out += "&gt;"; break;
        case '"': out += "&quot;"; break;
        default: out += c;
        }
    }
    return out;
}

//  > def send_error(self, code, message=None, explain=None):
void send_error(pysock::stream_request& r, const std::string& requestline, int code,
                const std::string& message, bool head_only = false) {
    log_request(r.client_address, requestline, code);
    const std::string body =
        "<!DOCTYPE HTML>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        "<title>Error response</title>\n</head>\n<body>\n<h1>Error response</h1>\n"
        "<p>Error code: " +
        std::to_string(code) + "</p>\n<p>Message: " + html_escape(message) +
        ".</p>\n</body>\n</html>\n";
    send_head(r, code,
              {{"Connection", "close"},
               {"Content-Type", "text/html;charset=utf-8"},
               {"Content-Length", std::to_string(body.size())}});
    if (!head_only) r.wfile.write(body);
}

// "%41" -> "A"; a path with a bad escape is left as it is.
std::string unquote(const std::string& text) {
    std::string out;
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '%' && i + 2 < text.size() &&
            std::isxdigit(static_cast<unsigned char>(text[i + 1])) &&
            std::isxdigit(static_cast<unsigned char>(text[i + 2]))) {
            out += static_cast<char>(std::stoi(text.substr(i + 1, 2), nullptr, 16));
            i += 2;
        } else {
            out += text[i];
        }
    }
    return out;
}

//  > def translate_path(self, path):
// The URL path under DIR: the query and fragment dropped, "." and ".." and empty segments
// ignored, so no request can name a file outside DIR.
fs::path translate_path(const std::string& url) {
    std::string path = url.substr(0, url.find_first_of("?#"));
    path = unquote(path);
    fs::path result = root;
    std::stringstream segments(path);
    for (std::string word; std::getline(segments, word, '/');) {
        if (word.empty() || word == "." || word == ".." || word.find('\\') != std::string::npos)
            continue;
        result /= word;
    }
    return result;
}

std::string content_type(const fs::path& file) {
    static const std::map<std::string, std::string> types = {
        {".html", "text/html"}, {".htm", "text/html"},      {".txt", "text/plain"},
        {".css", "text/css"},   {".js", "text/javascript"}, {".json", "application/json"},
        {".png", "image/png"},  {".jpg", "image/jpeg"},     {".svg", "image/svg+xml"}};
    auto it = types.find(file.extension().string());
    return it != types.end() ? it->second : "application/octet-stream";
}

//  > def list_directory(self, path):
std::string list_directory(const fs::path& dir, const std::string& url_path) {
    std::vector<std::string> names;
    for (const auto& entry : fs::directory_iterator(dir))
        names.push_back(entry.path().filename().string() + (entry.is_directory() ? "/" : ""));
    std::sort(names.begin(), names.end());
    const std::string title = "Directory listing for " + html_escape(url_path);
    std::string body =
        "<!DOCTYPE HTML>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>" + title +
        "</title>\n</head>\n<body>\n<h1>" + title + "</h1>\n<hr>\n<ul>\n";
    for (const auto& name : names)
        body += "<li><a href=\"" + html_escape(name) + "\">" + html_escape(name) + "</a></li>\n";
    return body + "</ul>\n<hr>\n</body>\n</html>\n";
}

//  > def do_GET(self): / def do_HEAD(self):
void send_file_or_listing(pysock::stream_request& r, const std::string& requestline,
                          const std::string& url, bool head_only) {
    const fs::path path = translate_path(url);
    std::error_code ec;
    const std::string url_path = url.substr(0, url.find_first_of("?#"));
    if (fs::is_directory(path, ec)) {
        if (url_path.empty() || url_path.back() != '/') {  // "/dir" -> "/dir/", as http.server
            log_request(r.client_address, requestline, 301);
            send_head(r, 301, {{"Location", url_path + "/"}, {"Content-Length", "0"}});
            return;
        }
        if (!fs::is_regular_file(path / "index.html", ec)) {
            const std::string body = list_directory(path, unquote(url_path));
            log_request(r.client_address, requestline, 200);
            send_head(r, 200,
                      {{"Content-type", "text/html; charset=utf-8"},
                       {"Content-Length", std::to_string(body.size())}});
            if (!head_only) r.wfile.write(body);
            return;
        }
        return send_file_or_listing(r, requestline, url_path + "index.html", head_only);
    }
    std::ifstream file(path, std::ios::binary);
    if (!fs::is_regular_file(path, ec) || !file)
        return send_error(r, requestline, 404, "File not found", head_only);
    log_request(r.client_address, requestline, 200);
    send_head(r, 200,
              {{"Content-type", content_type(path)},
               {"Content-Length", std::to_string(fs::file_size(path, ec))}});
    if (head_only) return;
    std::vector<char> chunk(64 * 1024);
    while (file.read(chunk.data(), static_cast<std::streamsize>(chunk.size())) || file.gcount() > 0)
        r.wfile.write(std::string_view(chunk.data(), static_cast<std::size_t>(file.gcount())));
}

std::string strip_crlf(std::string line) {
    while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
    return line;
}

//  > class SimpleHTTPRequestHandler(BaseHTTPRequestHandler): handle_one_request()
void handle(pysock::stream_request& r) {
    //  > self.raw_requestline = self.rfile.readline(65537)
    const pysock::bytes raw_requestline = r.rfile.readline(max_line + 1);
    if (raw_requestline.size() > max_line) return send_error(r, "", 414, "Request-URI Too Long");
    if (raw_requestline.empty()) return;  // the client left without a word
    const std::string requestline = strip_crlf(raw_requestline);
    //  > words = requestline.split()
    std::vector<std::string> words;
    std::istringstream split(requestline);
    for (std::string w; split >> w;) words.push_back(w);
    if (words.size() != 3 || words[2].rfind("HTTP/", 0) != 0)
        return send_error(r, requestline, 400, "Bad request syntax ('" + requestline + "')");
    //  > self.headers = http.client.parse_headers(self.rfile)
    for (int count = 0;; ++count) {
        const pysock::bytes header = r.rfile.readline(max_line + 1);
        if (header.size() > max_line) return send_error(r, requestline, 431, "Line too long");
        if (header.empty() || header == "\r\n" || header == "\n") break;
        if (count == max_headers) return send_error(r, requestline, 431, "Too many headers");
    }
    const std::string& command = words[0];
    if (command == "GET" || command == "HEAD")
        return send_file_or_listing(r, requestline, words[1], command == "HEAD");
    send_error(r, requestline, 501, "Unsupported method ('" + command + "')");
}

}  // namespace

int main(int argc, char** argv) {
    const char* usage = "usage: http_server [--bind ADDRESS] [--directory DIR] [PORT]   "
                        "(defaults: 127.0.0.1, ., 8000)\n";
    std::string bind = "127.0.0.1", directory = ".";
    int port = 8000;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if (arg == "-h" || arg == "--help") {
            std::cout << usage;
            return 0;
        }
        if ((arg == "--bind" || arg == "-b") && i + 1 < argc) {
            bind = argv[++i];
        } else if ((arg == "--directory" || arg == "-d") && i + 1 < argc) {
            directory = argv[++i];
        } else if ((port = example::parse_port(arg)) < 0) {
            return example::bad_arguments(usage);
        }
    }
    std::error_code ec;
    root = fs::canonical(directory, ec);
    if (ec || !fs::is_directory(root)) {
        std::cerr << "http_server: not a directory: " << directory << "\n";
        return 2;
    }
    try {
        pysock::server_options options;
        options.connection_timeout = 30.0;  // a client that never finishes its request is let go
        //  > with ThreadingHTTPServer((bind, port), SimpleHTTPRequestHandler) as httpd:
        pysock::threading_tcp_server httpd({bind, port}, handle, options);
        httpd.shutdown_on_signals();
        const pysock::address a = httpd.server_address();
        //  > print(f"Serving HTTP on {host} port {port} (http://{url_host}:{port}/) ...")
        std::cout << "Serving HTTP on " << a.host << " port " << a.port << " (http://" << a.host
                  << ":" << a.port << "/) ..." << std::endl;
        httpd.serve_forever();
        //  > except KeyboardInterrupt: print("\nKeyboard interrupt received, exiting.")
        if (httpd.shutdown_signal() == SIGINT)
            std::cout << "\nKeyboard interrupt received, exiting." << std::endl;
    } catch (const std::exception& e) {
        std::cerr << "http_server: " << e.what() << "\n";
        return 1;
    }
    return 0;
}
