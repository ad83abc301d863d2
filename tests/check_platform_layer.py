#!/usr/bin/env python3
"""check_platform_layer.py ROOT - the platform layer rule of pysock's headers, checked.

"Platform differences live in one layer per header": section 4 of each header wraps every system
call, and section 5 (the implementation) calls only those wrappers. This script fails (exit 1,
naming file and line) when
  * section 5 of a header calls a system or socket API function directly (`::recv(`,
    `::inet_pton(`, `::sigaction(`, ...), or
  * the Windows and POSIX halves of socket.hpp's section 4 do not list the same wrappers in the
    same order (the helpers only one platform needs are named below).
"""
import re
import sys
from pathlib import Path

SYSTEM_CALLS = """socket bind listen accept accept4 connect recv recvfrom recvmsg send sendto sendmsg sendfile
shutdown close closesocket getsockopt setsockopt getsockname getpeername select poll WSAPoll
epoll_create1 epoll_ctl epoll_wait kqueue kevent fcntl ioctl ioctlsocket inet_pton inet_ntop
inet_aton inet_addr getaddrinfo getnameinfo gethostname gethostbyname gethostbyname_r
gethostbyaddr getservbyname getservbyport getprotobyname signal sigaction raise dup dup2 pipe
read write WSAGetLastError WSASetLastError WSAStartup clock_gettime socketpair
if_nametoindex if_indextoname if_nameindex""".split()
CALL = re.compile(r"(?<![\w.>])::(" + "|".join(SYSTEM_CALLS) + r")\s*\(")

# Helpers one platform needs and the other does not.
WINDOWS_ONLY = {"start_winsock", "winsock_error_text", "clamp_io_size"}
POSIX_ONLY = {"prepare_new_handle", "sys_sendmsg", "sys_recvmsg", "msg_cmsg_cloexec"}
NAME = re.compile(r"^(?:(?:inline|PYSOCK_DECL)\s[\w:<>\s*&]*?\b|using\s+)(\w+)\s*(?:\(|=)", re.M)


def section(text, start, end):
    a = text.index(start)
    return a, text[a:text.index(end, a)]


def names(text):
    out = []
    for m in NAME.finditer(text):
        if m.group(1) not in out:  # the #if/#else variants of one wrapper count once
            out.append(m.group(1))
    return out


def main(root):
    problems = []
    for header in sorted((Path(root) / "include" / "pysock").glob("*.hpp")):
        text = header.read_text()
        if "// 5. Implementation" not in text:
            continue
        offset, impl = section(text, "// 5. Implementation", "// 6. ")
        first_line = text.count("\n", 0, offset) + 1
        for m in CALL.finditer(impl):
            line = first_line + impl.count("\n", 0, m.start())
            problems.append(f"{header.name}:{line}: section 5 calls ::{m.group(1)}() directly: "
                            "add a wrapper to section 4")
    text = (Path(root) / "include" / "pysock" / "socket.hpp").read_text()
    _, layer = section(text, "// 4. Platform layer", "// 5. Implementation")
    windows = layer[layer.index("// Windows: Winsock 2."):layer.index("// POSIX: Linux")]
    posix = layer[layer.index("// POSIX: Linux"):re.search(r"#endif\s+// _WIN32", layer).start()]
    w = [n for n in names(windows) if n not in WINDOWS_ONLY]
    p = [n for n in names(posix) if n not in POSIX_ONLY]
    if w != p:
        for i, (a, b) in enumerate(zip(w + ["(end)"] * len(p), p + ["(end)"] * len(w))):
            if a != b:
                problems.append(f"socket.hpp section 4: wrapper {i + 1} is {a} on Windows, {b} on POSIX "
                                f"(Windows: {w[i:i + 4]}..., POSIX: {p[i:i + 4]}...)")
                break
    for problem in problems:
        print(problem)
    if not problems:
        print(f"platform layer: section 5 of every header calls wrappers only; socket.hpp's two halves "
              f"list the same {len(w)} wrappers in the same order")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "."))
