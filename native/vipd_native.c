/*
 * vipd_native: the one native piece of vipd. Raw IPv4/IPv6 sockets (VRRP needs the
 * TTL / hop limit and the arrival interface of every advert), AF_PACKET sockets
 * (gratuitous ARP) and AF_NETLINK sockets (rtnetlink, generic netlink for IPVS).
 *
 * Plain C over N-API so the binary is ABI-stable across Node versions. Readiness comes
 * from a libuv poll handle on the loop of the thread that opened the socket, so sockets
 * work in worker_threads. The TypeScript wrapper lives in src/sys/socket.ts; the
 * contract it implements is src/sys/socket-types.ts.
 *
 * Lifetime of one socket (struct vsock), which has two owners:
 *   - the libuv poll handle: once uv_poll_init succeeded the memory must outlive
 *     uv_close's callback;
 *   - the JS wrapper object: napi_wrap's finalizer may run at any time after close()
 *     (GC) or at environment teardown.
 * The struct is freed when both are done (maybe_free). While the socket is open we hold
 * a strong reference to the wrapper, so an open socket is never collected (like a
 * dgram socket); close() turns it weak. An async cleanup hook closes sockets that are
 * still open when their environment (main thread or worker) shuts down, and Node waits
 * for our uv_close callback before tearing the environment down.
 */
#define _GNU_SOURCE
#ifndef NAPI_VERSION
#define NAPI_VERSION 8 /* async cleanup hooks, object type tags */
#endif

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_ether.h>
#include <linux/filter.h>
#include <linux/if_packet.h>
#include <linux/magic.h>
#include <linux/netlink.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <node_api.h>
#include <uv.h>

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif

/* Datagrams delivered per readiness event. The poll is level-triggered, so anything
 * left is picked up on the next loop turn; the cap keeps a flood from starving timers. */
#define MAX_BATCH 64
#define MAX_IOV 64
#define DEFAULT_RECV_SIZE 65536
#define MAX_RECV_SIZE (64 * 1024 * 1024)
#define MAX_OPTLEN 65536

typedef struct vsock {
  napi_env env;
  int fd; /* -1 once closed */
  int family, type, protocol; /* protocol: ethertype in host order for AF_PACKET */
  uv_poll_t poll;
  bool poll_init;      /* uv_poll_init succeeded: the handle must be uv_close'd */
  bool handle_closed;  /* uv_close callback ran, or there never was a handle */
  bool wrapper_gone;   /* napi_wrap finalizer ran */
  bool in_poll;        /* inside on_poll: JS may close us, but memory must stay */
  napi_ref self;       /* wrapper; strong while open */
  napi_ref callback;   /* (err, data, info) => void */
  napi_async_context actx;
  napi_async_cleanup_hook_handle cleanup;
  unsigned char *buf;
  size_t bufsize;
} vsock;

/* Tags wrapper objects so a method called on a foreign object is a TypeError, not a
 * reinterpretation of someone else's pointer. */
static const napi_type_tag VSOCK_TAG = {0x7669706473636b31ULL, 0x9b0e3c5a1f2d4e67ULL};

/* ---------------------------------------------------------------- errors */

/* Bail out of a napi_callback when an N-API call fails. Most failures leave an
 * exception pending already (e.g. a getter threw); otherwise raise a generic one. */
#define NAPI_CALL(env, call)                                                   \
  do {                                                                         \
    if ((call) != napi_ok) {                                                   \
      throw_last_napi_error(env);                                              \
      return NULL;                                                             \
    }                                                                          \
  } while (0)

static void throw_last_napi_error(napi_env env) {
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (pending) return;
  const napi_extended_error_info *info = NULL;
  napi_get_last_error_info(env, &info);
  napi_throw_error(env, "ERR_NAPI",
                   info && info->error_message ? info->error_message : "N-API call failed");
}

static void throw_type(napi_env env, const char *fmt, const char *what) {
  char msg[256];
  snprintf(msg, sizeof msg, fmt, what);
  napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
}

static void throw_range(napi_env env, const char *fmt, const char *what) {
  char msg[256];
  snprintf(msg, sizeof msg, fmt, what);
  napi_throw_range_error(env, "ERR_OUT_OF_RANGE", msg);
}

/* Node-style system error: message "syscall CODE: description" plus code, errno
 * (negative, as in Node's own system errors) and syscall properties. */
static napi_value errno_error(napi_env env, int err, const char *syscall) {
  char namebuf[64];
  const char *name = NULL;
  const char *desc = NULL;
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
  name = strerrorname_np(err);
  desc = strerrordesc_np(err);
#endif
  if (name == NULL) name = uv_err_name_r(-err, namebuf, sizeof namebuf);
  if (desc == NULL) desc = strerror(err);

  char msg[320];
  snprintf(msg, sizeof msg, "%s %s: %s", syscall, name, desc);
  napi_value vcode, vmsg, verr, vnum, vsys;
  if (napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &vcode) != napi_ok ||
      napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &vmsg) != napi_ok ||
      napi_create_error(env, vcode, vmsg, &verr) != napi_ok ||
      napi_create_int32(env, -err, &vnum) != napi_ok ||
      napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &vsys) != napi_ok ||
      napi_set_named_property(env, verr, "errno", vnum) != napi_ok ||
      napi_set_named_property(env, verr, "syscall", vsys) != napi_ok)
    return NULL;
  return verr;
}

static void throw_errno(napi_env env, int err, const char *syscall) {
  napi_value e = errno_error(env, err, syscall);
  if (e != NULL) napi_throw(env, e);
  else throw_last_napi_error(env);
}

static void throw_errno_path(napi_env env, int err, const char *syscall, const char *path) {
  napi_value e = errno_error(env, err, syscall), vpath;
  if (e == NULL) return throw_last_napi_error(env);
  if (napi_create_string_utf8(env, path, NAPI_AUTO_LENGTH, &vpath) == napi_ok)
    napi_set_named_property(env, e, "path", vpath);
  napi_throw(env, e);
}

/* ---------------------------------------------------------------- argument helpers */

static bool is_nullish(napi_env env, napi_value v) {
  napi_valuetype t;
  return napi_typeof(env, v, &t) != napi_ok || t == napi_undefined || t == napi_null;
}

/* An integral number within [min, max]; throws TypeError / RangeError otherwise. */
static bool get_integer(napi_env env, napi_value v, const char *name, double min, double max,
                        double *out) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_number) {
    throw_type(env, "%s must be a number", name);
    return false;
  }
  double d;
  napi_get_value_double(env, v, &d);
  if (!(d >= min && d <= max) || d != (double)(int64_t)d) {
    throw_range(env, "%s is not an integer in the allowed range", name);
    return false;
  }
  *out = d;
  return true;
}

static bool get_int(napi_env env, napi_value v, const char *name, double min, double max, int *out) {
  double d;
  if (!get_integer(env, v, name, min, max, &d)) return false;
  *out = (int)d;
  return true;
}

static bool get_u32(napi_env env, napi_value v, const char *name, uint32_t *out) {
  double d;
  if (!get_integer(env, v, name, 0, 4294967295.0, &d)) return false;
  *out = (uint32_t)d;
  return true;
}

/* A string that fits in cap bytes including the NUL. */
static bool get_string(napi_env env, napi_value v, const char *name, char *buf, size_t cap) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_string) {
    throw_type(env, "%s must be a string", name);
    return false;
  }
  size_t len;
  napi_get_value_string_utf8(env, v, NULL, 0, &len);
  if (len == 0 || len >= cap) {
    throw_range(env, "%s has an invalid length", name);
    return false;
  }
  napi_get_value_string_utf8(env, v, buf, cap, &len);
  if (strlen(buf) != len) { /* embedded NUL would silently truncate a path or name */
    throw_type(env, "%s must not contain NUL characters", name);
    return false;
  }
  return true;
}

static bool get_buffer(napi_env env, napi_value v, const char *name, void **data, size_t *len) {
  bool isbuf = false;
  if (napi_is_buffer(env, v, &isbuf) != napi_ok || !isbuf) {
    throw_type(env, "%s must be a Buffer", name);
    return false;
  }
  return napi_get_buffer_info(env, v, data, len) == napi_ok;
}

/* 1: present (not undefined/null), 0: absent, -1: exception pending. */
static int get_prop(napi_env env, napi_value obj, const char *key, napi_value *out) {
  if (napi_get_named_property(env, obj, key, out) != napi_ok) return -1;
  return is_nullish(env, *out) ? 0 : 1;
}

static bool is_object(napi_env env, napi_value v) {
  napi_valuetype t;
  return napi_typeof(env, v, &t) == napi_ok && t == napi_object;
}

static bool set_int(napi_env env, napi_value obj, const char *key, int64_t v) {
  napi_value n;
  return napi_create_int64(env, v, &n) == napi_ok && napi_set_named_property(env, obj, key, n) == napi_ok;
}

static bool set_str(napi_env env, napi_value obj, const char *key, const char *s) {
  napi_value n;
  return napi_create_string_utf8(env, s, NAPI_AUTO_LENGTH, &n) == napi_ok &&
         napi_set_named_property(env, obj, key, n) == napi_ok;
}

/* ---------------------------------------------------------------- network namespaces */

/* Move the calling thread into the namespace at `path`; returns an fd for the thread's
 * original namespace, or -1 with errno set and *syscall naming what failed. Only the
 * calling thread moves (setns on a net namespace is per thread). */
static int netns_enter(const char *path, const char **syscall) {
  /* O_NONBLOCK: a FIFO (or a device) at `path` must not block the event loop in open(). */
  int target = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  if (target < 0) {
    *syscall = "open";
    return -1;
  }
  struct statfs fs;
  if (fstatfs(target, &fs) < 0 || (unsigned long)fs.f_type != NSFS_MAGIC) {
    close(target);
    errno = EINVAL;
    *syscall = "open (not a namespace file)";
    return -1;
  }
  int saved = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (saved < 0) {
    int e = errno;
    close(target);
    errno = e;
    *syscall = "open /proc/thread-self/ns/net";
    return -1;
  }
  if (setns(target, CLONE_NEWNET) < 0) {
    int e = errno;
    close(target);
    close(saved);
    errno = e;
    /* vipd's service runs with CAP_NET_ADMIN and CAP_NET_RAW only; entering another namespace
     * needs CAP_SYS_ADMIN, which only the lab (tests) has. */
    *syscall = e == EPERM ? "setns (needs CAP_SYS_ADMIN: the netns option is for the lab)" : "setns";
    return -1;
  }
  close(target);
  return saved;
}

/* Go back to the namespace saved by netns_enter, preserving errno. If this fails the
 * event-loop thread is stranded in the wrong namespace and every later socket, route
 * and address operation of vipd would silently act on the wrong network, so it is
 * treated as fatal. (Re-entering a namespace we just left cannot fail in practice.) */
static void netns_leave(int saved) {
  int e = errno;
  if (setns(saved, CLONE_NEWNET) < 0)
    napi_fatal_error("vipd_native", NAPI_AUTO_LENGTH,
                     "setns() back to the original network namespace failed", NAPI_AUTO_LENGTH);
  close(saved);
  errno = e;
}

/* ---------------------------------------------------------------- sockaddr codec */

static const char *family_name(int af) {
  switch (af) {
  case AF_INET: return "inet";
  case AF_INET6: return "inet6";
  case AF_PACKET: return "packet";
  case AF_NETLINK: return "netlink";
  default: return "unknown";
  }
}

static int family_from_name(const char *s) {
  if (strcmp(s, "inet") == 0) return AF_INET;
  if (strcmp(s, "inet6") == 0) return AF_INET6;
  if (strcmp(s, "packet") == 0) return AF_PACKET;
  if (strcmp(s, "netlink") == 0) return AF_NETLINK;
  return 0;
}

/* JS address object → sockaddr for socket `s`. Throws and returns false on bad input. */
static bool parse_sockaddr(napi_env env, const vsock *s, napi_value obj, const char *what,
                           struct sockaddr_storage *ss, socklen_t *len) {
  napi_value v;
  char fam[16], addr[INET6_ADDRSTRLEN + 1];
  if (!is_object(env, obj)) {
    throw_type(env, "%s must be an address object", what);
    return false;
  }
  int r = get_prop(env, obj, "family", &v);
  if (r < 0) return false;
  if (r == 0) {
    throw_type(env, "%s.family must be a string", what);
    return false;
  }
  if (!get_string(env, v, "address family", fam, sizeof fam)) return false;
  int af = family_from_name(fam);
  if (af != s->family) {
    char msg[128];
    snprintf(msg, sizeof msg, "address family '%s' does not match socket family '%s'", fam,
             family_name(s->family));
    napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE", msg);
    return false;
  }
  memset(ss, 0, sizeof *ss);

  if (af == AF_INET || af == AF_INET6) {
    int port = 0;
    if ((r = get_prop(env, obj, "address", &v)) < 0) return false;
    if (r == 0) {
      throw_type(env, "%s.address must be a string", what);
      return false;
    }
    if (!get_string(env, v, "address", addr, sizeof addr)) return false;
    if ((r = get_prop(env, obj, "port", &v)) < 0) return false;
    if (r == 1 && !get_int(env, v, "port", 0, 65535, &port)) return false;
    if (af == AF_INET) {
      struct sockaddr_in *sin = (struct sockaddr_in *)ss;
      sin->sin_family = AF_INET;
      sin->sin_port = htons((uint16_t)port);
      if (inet_pton(AF_INET, addr, &sin->sin_addr) != 1) {
        napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE", "invalid IPv4 address");
        return false;
      }
      *len = sizeof *sin;
    } else {
      struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
      uint32_t scope = 0;
      if ((r = get_prop(env, obj, "scopeId", &v)) < 0) return false;
      if (r == 1 && !get_u32(env, v, "scopeId", &scope)) return false;
      sin6->sin6_family = AF_INET6;
      sin6->sin6_port = htons((uint16_t)port);
      sin6->sin6_scope_id = scope;
      if (inet_pton(AF_INET6, addr, &sin6->sin6_addr) != 1) {
        napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE", "invalid IPv6 address");
        return false;
      }
      *len = sizeof *sin6;
    }
    return true;
  }

  if (af == AF_PACKET) {
    struct sockaddr_ll *sll = (struct sockaddr_ll *)ss;
    int ifindex = 0, proto = s->protocol;
    if ((r = get_prop(env, obj, "ifindex", &v)) < 0) return false;
    if (r == 0) {
      throw_type(env, "%s.ifindex must be a number", what);
      return false;
    }
    if (!get_int(env, v, "ifindex", 0, INT32_MAX, &ifindex)) return false;
    /* An absent protocol means "the socket's own": for sends the kernel would
     * otherwise tag the frame with protocol 0. */
    if ((r = get_prop(env, obj, "protocol", &v)) < 0) return false;
    if (r == 1 && !get_int(env, v, "protocol", 0, 0xffff, &proto)) return false;
    sll->sll_family = AF_PACKET;
    sll->sll_ifindex = ifindex;
    sll->sll_protocol = htons((uint16_t)proto);
    if ((r = get_prop(env, obj, "address", &v)) < 0) return false;
    if (r == 1) {
      void *data;
      size_t n;
      if (!get_buffer(env, v, "address", &data, &n)) return false;
      if (n > sizeof sll->sll_addr) {
        throw_range(env, "%s.address is longer than 8 bytes", what);
        return false;
      }
      memcpy(sll->sll_addr, data, n);
      sll->sll_halen = (unsigned char)n;
    }
    *len = sizeof *sll;
    return true;
  }

  /* AF_NETLINK */
  struct sockaddr_nl *snl = (struct sockaddr_nl *)ss;
  uint32_t pid = 0, groups = 0;
  if ((r = get_prop(env, obj, "pid", &v)) < 0) return false;
  if (r == 1 && !get_u32(env, v, "pid", &pid)) return false;
  if ((r = get_prop(env, obj, "groups", &v)) < 0) return false;
  if (r == 1 && !get_u32(env, v, "groups", &groups)) return false;
  snl->nl_family = AF_NETLINK;
  snl->nl_pid = pid;
  snl->nl_groups = groups;
  *len = sizeof *snl;
  return true;
}

/* sockaddr → JS address object (the SockAddr shapes of socket-types.ts). */
static napi_value decode_sockaddr(napi_env env, int sock_family, const struct sockaddr_storage *ss,
                                  socklen_t len) {
  napi_value o;
  char text[INET6_ADDRSTRLEN];
  if (napi_create_object(env, &o) != napi_ok) return NULL;
  int af = len >= sizeof(sa_family_t) ? ss->ss_family : sock_family;
  if (!set_str(env, o, "family", family_name(af))) return NULL;
  switch (af) {
  case AF_INET: {
    const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;
    inet_ntop(AF_INET, &sin->sin_addr, text, sizeof text);
    if (!set_str(env, o, "address", text)) return NULL;
    if (sin->sin_port != 0 && !set_int(env, o, "port", ntohs(sin->sin_port))) return NULL;
    break;
  }
  case AF_INET6: {
    const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;
    inet_ntop(AF_INET6, &sin6->sin6_addr, text, sizeof text);
    if (!set_str(env, o, "address", text)) return NULL;
    if (sin6->sin6_port != 0 && !set_int(env, o, "port", ntohs(sin6->sin6_port))) return NULL;
    if (!set_int(env, o, "scopeId", sin6->sin6_scope_id)) return NULL;
    break;
  }
  case AF_PACKET: {
    const struct sockaddr_ll *sll = (const struct sockaddr_ll *)ss;
    napi_value hw;
    size_t halen = sll->sll_halen > sizeof sll->sll_addr ? sizeof sll->sll_addr : sll->sll_halen;
    if (!set_int(env, o, "ifindex", sll->sll_ifindex) ||
        !set_int(env, o, "protocol", ntohs(sll->sll_protocol)) ||
        !set_int(env, o, "hatype", sll->sll_hatype) || !set_int(env, o, "pkttype", sll->sll_pkttype) ||
        napi_create_buffer_copy(env, halen, sll->sll_addr, NULL, &hw) != napi_ok ||
        napi_set_named_property(env, o, "address", hw) != napi_ok)
      return NULL;
    break;
  }
  case AF_NETLINK: {
    const struct sockaddr_nl *snl = (const struct sockaddr_nl *)ss;
    if (!set_int(env, o, "pid", snl->nl_pid) || !set_int(env, o, "groups", snl->nl_groups)) return NULL;
    break;
  }
  }
  return o;
}

/* ---------------------------------------------------------------- lifetime */

static void maybe_free(vsock *s) {
  if (s->handle_closed && s->wrapper_gone && !s->in_poll) {
    free(s->buf);
    free(s);
  }
}

static void on_handle_closed(uv_handle_t *h) {
  vsock *s = h->data;
  s->handle_closed = true;
  /* Removing the hook also tells Node an in-progress teardown may continue. */
  if (s->cleanup != NULL) {
    napi_remove_async_cleanup_hook(s->cleanup);
    s->cleanup = NULL;
  }
  maybe_free(s);
}

/* Close the fd and start closing the poll handle. `teardown`: the environment is going
 * away (cleanup hook or finalizer), so no JS may run and async hooks are not emitted. */
static void close_socket(vsock *s, bool teardown) {
  if (s->fd < 0) return;
  /* uv_close stops the poll and removes the fd from epoll, so it must come before
   * close(): a recycled fd number must never be watched on our behalf. */
  if (s->poll_init) uv_close((uv_handle_t *)&s->poll, on_handle_closed);
  else s->handle_closed = true;
  close(s->fd);
  s->fd = -1;
  if (s->callback != NULL) {
    napi_delete_reference(s->env, s->callback);
    s->callback = NULL;
  }
  if (s->self != NULL) napi_reference_unref(s->env, s->self, NULL);
  if (s->actx != NULL) {
    if (!teardown) napi_async_destroy(s->env, s->actx);
    s->actx = NULL;
  }
  if (!s->poll_init && s->cleanup != NULL) {
    napi_remove_async_cleanup_hook(s->cleanup);
    s->cleanup = NULL;
  }
}

/* Environment (thread) shutdown with the socket still open. */
static void on_env_cleanup(napi_async_cleanup_hook_handle handle, void *arg) {
  vsock *s = arg;
  (void)handle;
  /* Already closed by JS: the pending uv_close callback removes the hook. */
  close_socket(s, true);
}

static void finalize_socket(napi_env env, void *data, void *hint) {
  vsock *s = data;
  (void)hint;
  /* Only reachable with the fd open at environment teardown (an open socket holds a
   * strong reference to its wrapper). */
  close_socket(s, true);
  if (s->self != NULL) {
    napi_delete_reference(env, s->self);
    s->self = NULL;
  }
  s->wrapper_gone = true;
  maybe_free(s);
}

/* ---------------------------------------------------------------- receive path */

/* Call the JS callback with (argv...). False when JS threw or can no longer run; a
 * throwing listener is reported as an uncaught exception, as Node does for its own
 * handles, rather than being swallowed. */
static bool deliver(vsock *s, size_t argc, napi_value *argv) {
  napi_env env = s->env;
  napi_value cb, recv;
  if (s->callback == NULL || s->self == NULL) return false;
  if (napi_get_reference_value(env, s->callback, &cb) != napi_ok || cb == NULL) return false;
  if (napi_get_reference_value(env, s->self, &recv) != napi_ok || recv == NULL)
    napi_get_undefined(env, &recv);
  napi_status st = napi_make_callback(env, s->actx, recv, cb, argc, argv, NULL);
  if (st == napi_ok) return true;
  /* napi_pending_exception without a pending exception means JS can no longer run
   * (worker terminating): just stop. napi_fatal_exception is itself a no-op then. */
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (pending) {
    napi_value exc;
    if (napi_get_and_clear_last_exception(env, &exc) == napi_ok) napi_fatal_exception(env, exc);
  }
  return false;
}

/* A failure that left an exception pending (allocating a received message's Buffer or info
 * object, a throwing setter on Object.prototype) must not stay pending: N-API refuses later calls
 * on this thread while one is, so every socket of the thread would drop every datagram until some
 * unrelated JS call threw the stale error. Hand it to this socket's callback as an error; when
 * the socket is closed (no callback), raise it as an uncaught exception. */
static void report_pending(vsock *s) {
  bool pending = false;
  napi_value exc;
  if (napi_is_exception_pending(s->env, &pending) != napi_ok || !pending) return;
  if (napi_get_and_clear_last_exception(s->env, &exc) != napi_ok) return;
  if (s->fd < 0 || s->callback == NULL) napi_fatal_exception(s->env, exc);
  else deliver(s, 1, &exc);
}

static bool deliver_error(vsock *s, int err, const char *syscall) {
  napi_value e = errno_error(s->env, err, syscall);
  if (e == NULL) return false;
  return deliver(s, 1, &e);
}

static napi_value build_info(napi_env env, vsock *s, struct msghdr *msg, struct sockaddr_storage *from) {
  napi_value info, vfrom, vtrunc;
  char text[INET6_ADDRSTRLEN];
  if (napi_create_object(env, &info) != napi_ok) return NULL;
  vfrom = decode_sockaddr(env, s->family, from, msg->msg_namelen);
  if (vfrom == NULL || napi_set_named_property(env, info, "from", vfrom) != napi_ok) return NULL;
  if (napi_get_boolean(env, (msg->msg_flags & MSG_TRUNC) != 0, &vtrunc) != napi_ok ||
      napi_set_named_property(env, info, "truncated", vtrunc) != napi_ok ||
      napi_get_boolean(env, (msg->msg_flags & MSG_CTRUNC) != 0, &vtrunc) != napi_ok ||
      napi_set_named_property(env, info, "truncatedControl", vtrunc) != napi_ok)
    return NULL;
  if (s->family == AF_PACKET && !set_int(env, info, "ifindex", ((struct sockaddr_ll *)from)->sll_ifindex))
    return NULL;

  for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c != NULL; c = CMSG_NXTHDR(msg, c)) {
    int ival;
    /* Each copy below reads a fixed size: skip a control message too short for it. */
    size_t have = c->cmsg_len >= CMSG_LEN(0) ? c->cmsg_len - CMSG_LEN(0) : 0;
#define FITS(type) (have >= sizeof(type))
    if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_TTL && FITS(int)) {
      memcpy(&ival, CMSG_DATA(c), sizeof ival);
      if (!set_int(env, info, "ttl", ival)) return NULL;
    } else if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO && FITS(struct in_pktinfo)) {
      struct in_pktinfo pi;
      memcpy(&pi, CMSG_DATA(c), sizeof pi);
      inet_ntop(AF_INET, &pi.ipi_addr, text, sizeof text);
      if (!set_int(env, info, "ifindex", pi.ipi_ifindex) || !set_str(env, info, "destination", text))
        return NULL;
    } else if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_RXQ_OVFL && FITS(uint32_t)) {
      uint32_t dropped;
      memcpy(&dropped, CMSG_DATA(c), sizeof dropped);
      if (!set_int(env, info, "queueDrops", dropped)) return NULL;
    } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_HOPLIMIT && FITS(int)) {
      memcpy(&ival, CMSG_DATA(c), sizeof ival);
      if (!set_int(env, info, "hopLimit", ival)) return NULL;
    } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO && FITS(struct in6_pktinfo)) {
      struct in6_pktinfo pi;
      memcpy(&pi, CMSG_DATA(c), sizeof pi);
      inet_ntop(AF_INET6, &pi.ipi6_addr, text, sizeof text);
      if (!set_int(env, info, "ifindex", pi.ipi6_ifindex) || !set_str(env, info, "destination", text))
        return NULL;
    }
#undef FITS
  }
  return info;
}

/* Read datagrams until EAGAIN (or MAX_BATCH), one callback each. Stops as soon as JS
 * closes the socket from inside a callback. */
static void drain(vsock *s) {
  napi_env env = s->env;
  for (int i = 0; i < MAX_BATCH && s->fd >= 0; i++) {
    struct sockaddr_storage from;
    union {
      struct cmsghdr align;
      unsigned char buf[512];
    } control;
    struct iovec iov = {.iov_base = s->buf, .iov_len = s->bufsize};
    struct msghdr msg = {.msg_name = &from, .msg_namelen = sizeof from, .msg_iov = &iov,
                         .msg_iovlen = 1, .msg_control = control.buf, .msg_controllen = sizeof control.buf};
    memset(&from, 0, sizeof from);
    ssize_t n = recvmsg(s->fd, &msg, MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) deliver_error(s, errno, "recvmsg");
      return;
    }
    napi_handle_scope scope;
    if (napi_open_handle_scope(env, &scope) != napi_ok) return;
    napi_value argv[3];
    size_t len = (size_t)n > s->bufsize ? s->bufsize : (size_t)n;
    bool ok = napi_get_null(env, &argv[0]) == napi_ok &&
              napi_create_buffer_copy(env, len, s->buf, NULL, &argv[1]) == napi_ok &&
              (argv[2] = build_info(env, s, &msg, &from)) != NULL && deliver(s, 3, argv);
    if (!ok) report_pending(s);
    napi_close_handle_scope(env, scope);
    if (!ok) return;
  }
}

static void on_poll(uv_poll_t *h, int status, int events);

/* libuv reports POLLERR (a pending socket error such as ENOBUFS on netlink or an ICMP
 * error on a raw socket) by stopping the poll and passing UV_EBADF. Fetch and clear the
 * real error, hand it to JS as an 'error' event and resume polling. */
static void handle_poll_error(vsock *s, int status) {
  int err = 0;
  socklen_t l = sizeof err;
  (void)status;
  if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &l) < 0) {
    /* Said, and polling goes on: were the fd really unusable, restarting fails and says so. */
    deliver_error(s, errno, "getsockopt(SO_ERROR)");
  } else if (err == 0) {
    /* POLLERR from a non-empty error queue: drop one entry so we cannot spin. */
    unsigned char junk[64];
    recv(s->fd, junk, sizeof junk, MSG_ERRQUEUE | MSG_DONTWAIT);
  } else {
    deliver_error(s, err, "recvmsg");
  }
  if (s->fd < 0) return;
  int uvrc = uv_poll_start(&s->poll, UV_READABLE, on_poll);
  /* The socket no longer receives: say so rather than fall silent. */
  if (uvrc != 0) deliver_error(s, -uvrc, "uv_poll_start (the socket no longer receives)");
}

static void on_poll(uv_poll_t *h, int status, int events) {
  vsock *s = h->data;
  (void)events;
  if (s->fd < 0) return;
  napi_handle_scope scope;
  if (napi_open_handle_scope(s->env, &scope) != napi_ok) return;
  s->in_poll = true;
  if (status < 0) handle_poll_error(s, status);
  if (s->fd >= 0) drain(s);
  report_pending(s);
  s->in_poll = false;
  napi_close_handle_scope(s->env, scope);
  maybe_free(s);
}

/* ---------------------------------------------------------------- Socket class */

static vsock *unwrap_this(napi_env env, napi_callback_info info, size_t *argc, napi_value *argv,
                          const char *syscall, bool need_open) {
  napi_value self;
  bool tagged = false;
  void *p = NULL;
  if (napi_get_cb_info(env, info, argc, argv, &self, NULL) != napi_ok) return NULL;
  if (napi_check_object_type_tag(env, self, &VSOCK_TAG, &tagged) != napi_ok || !tagged ||
      napi_unwrap(env, self, &p) != napi_ok || p == NULL) {
    napi_throw_type_error(env, "ERR_INVALID_THIS", "receiver is not a vipd native Socket");
    return NULL;
  }
  vsock *s = p;
  if (need_open && s->fd < 0) {
    throw_errno(env, EBADF, syscall);
    return NULL;
  }
  return s;
}

/* new Socket(family, type, protocol, netns|null, recvBufferSize|null, callback) */
static napi_value sock_new(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6], self, target;
  int family, type, protocol, recvsize = DEFAULT_RECV_SIZE;
  char netns[4096];
  bool has_netns = false;

  NAPI_CALL(env, napi_get_new_target(env, info, &target));
  if (target == NULL) {
    napi_throw_type_error(env, "ERR_CONSTRUCT_CALL_REQUIRED", "Socket must be called with new");
    return NULL;
  }
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, &self, NULL));
  for (size_t i = argc; i < 6; i++) napi_get_undefined(env, &argv[i]);

  if (!get_int(env, argv[0], "family", 0, 65535, &family)) return NULL;
  if (family != AF_INET && family != AF_INET6 && family != AF_PACKET && family != AF_NETLINK) {
    throw_range(env, "%s must be AF_INET, AF_INET6, AF_PACKET or AF_NETLINK", "family");
    return NULL;
  }
  if (!get_int(env, argv[1], "type", 0, 65535, &type)) return NULL;
  if (type != SOCK_RAW && type != SOCK_DGRAM) {
    throw_range(env, "%s must be SOCK_RAW or SOCK_DGRAM", "type");
    return NULL;
  }
  if (!get_int(env, argv[2], "protocol", 0, 65535, &protocol)) return NULL;
  if (!is_nullish(env, argv[3])) {
    if (!get_string(env, argv[3], "netns", netns, sizeof netns)) return NULL;
    has_netns = true;
  }
  if (!is_nullish(env, argv[4]) && !get_int(env, argv[4], "recvBufferSize", 1, MAX_RECV_SIZE, &recvsize))
    return NULL;
  napi_valuetype t;
  NAPI_CALL(env, napi_typeof(env, argv[5], &t));
  if (t != napi_function) {
    throw_type(env, "%s must be a function", "callback");
    return NULL;
  }

  vsock *s = calloc(1, sizeof *s);
  unsigned char *buf = malloc((size_t)recvsize);
  if (s == NULL || buf == NULL) {
    free(s);
    free(buf);
    throw_errno(env, ENOMEM, "malloc");
    return NULL;
  }
  s->env = env;
  s->family = family;
  s->type = type;
  s->protocol = protocol;
  s->buf = buf;
  s->bufsize = (size_t)recvsize;
  s->handle_closed = true; /* until uv_poll_init succeeds */

  /* AF_PACKET takes the ethertype in network order; everything else as is. */
  int sproto = family == AF_PACKET ? htons((uint16_t)protocol) : protocol;
  int saved = -1;
  const char *failed = NULL;
  if (has_netns && (saved = netns_enter(netns, &failed)) < 0) {
    int e = errno;
    free(buf);
    free(s);
    throw_errno_path(env, e, failed, netns);
    return NULL;
  }
  s->fd = socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, sproto);
  if (has_netns) netns_leave(saved);
  if (s->fd < 0) {
    int e = errno;
    free(buf);
    free(s);
    throw_errno(env, e, "socket");
    return NULL;
  }

  /* VRRP must see the TTL / hop limit and the arrival interface of every packet. */
  int one = 1, rc = 0;
  const char *opt = NULL;
  if (family == AF_INET && type == SOCK_RAW) {
    if ((rc = setsockopt(s->fd, IPPROTO_IP, IP_RECVTTL, &one, sizeof one)) == 0)
      rc = setsockopt(s->fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof one);
  } else if (family == AF_INET6 && type == SOCK_RAW) {
    if ((rc = setsockopt(s->fd, IPPROTO_IPV6, IPV6_RECVHOPLIMIT, &one, sizeof one)) == 0)
      rc = setsockopt(s->fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof one);
  }
  /* ...and how many datagrams its receive queue dropped (a flood can push adverts out). */
  if (rc == 0 && (family == AF_INET || family == AF_INET6) && type == SOCK_RAW)
    rc = setsockopt(s->fd, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof one);
  if (rc < 0) opt = "setsockopt";

  uv_loop_t *loop = NULL;
  if (opt == NULL) {
    int uvrc = EIO;
    if (napi_get_uv_event_loop(env, &loop) == napi_ok) uvrc = -uv_poll_init(loop, &s->poll, s->fd);
    if (uvrc != 0) {
      opt = "uv_poll_init";
      errno = uvrc;
    }
  }
  if (opt != NULL) {
    int e = errno;
    close(s->fd);
    free(buf);
    free(s);
    throw_errno(env, e, opt);
    return NULL;
  }
  s->poll.data = s;
  s->poll_init = true;
  s->handle_closed = false;

  napi_value resname;
  if (napi_wrap(env, self, s, finalize_socket, NULL, NULL) != napi_ok) {
    /* Not wrapped: nothing else will ever free s, so free it from the close callback. */
    s->wrapper_gone = true;
    close_socket(s, false);
    throw_last_napi_error(env);
    return NULL;
  }
  /* From here on the finalizer owns the wrapper side of s; a failure below only needs
   * close_socket (the object becomes garbage and the finalizer frees). */
  if (napi_type_tag_object(env, self, &VSOCK_TAG) != napi_ok ||
      napi_create_reference(env, self, 1, &s->self) != napi_ok ||
      napi_create_reference(env, argv[5], 1, &s->callback) != napi_ok ||
      napi_create_string_utf8(env, "vipd:socket", NAPI_AUTO_LENGTH, &resname) != napi_ok ||
      napi_async_init(env, self, resname, &s->actx) != napi_ok ||
      napi_add_async_cleanup_hook(env, on_env_cleanup, s, &s->cleanup) != napi_ok) {
    close_socket(s, false);
    throw_last_napi_error(env);
    return NULL;
  }
  int uvrc = uv_poll_start(&s->poll, UV_READABLE, on_poll);
  if (uvrc != 0) {
    close_socket(s, false);
    throw_errno(env, -uvrc, "uv_poll_start");
    return NULL;
  }
  return self;
}

static napi_value sock_fd(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  vsock *s = unwrap_this(env, info, &argc, NULL, "fd", false);
  napi_value r;
  if (s == NULL) return NULL;
  NAPI_CALL(env, napi_create_int32(env, s->fd, &r));
  return r;
}

static napi_value sock_bind(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  struct sockaddr_storage ss;
  socklen_t len;
  vsock *s = unwrap_this(env, info, &argc, argv, "bind", true);
  if (s == NULL) return NULL;
  if (argc < 1) napi_get_undefined(env, &argv[0]);
  if (!parse_sockaddr(env, s, argv[0], "address", &ss, &len)) return NULL;
  if (bind(s->fd, (struct sockaddr *)&ss, len) < 0) throw_errno(env, errno, "bind");
  return NULL;
}

/* setsockopt(level, name, value: number | Buffer) */
/* The (level, name) pairs vipd sets or reads (src/sys, src/netlink, and the tests of them).
 * Anything else is refused: the process holds CAP_NET_ADMIN / CAP_NET_RAW, and a raw
 * passthrough would let any JS attach a BPF program (SO_ATTACH_FILTER), set marks, priorities
 * or promiscuity. Adding an option here is a deliberate act. */
#ifndef SOL_ICMPV6
#define SOL_ICMPV6 58
#endif
#ifndef ICMP6_FILTER
#define ICMP6_FILTER 1
#endif
static const struct {
  int level, name;
} ALLOWED_OPTIONS[] = {
    {SOL_SOCKET, SO_RCVBUF},           {SOL_SOCKET, SO_RCVBUFFORCE},     {SOL_SOCKET, SO_SNDBUF},
    {SOL_SOCKET, SO_SNDBUFFORCE},      {SOL_SOCKET, SO_BINDTODEVICE},    {SOL_SOCKET, SO_ERROR},
    {SOL_SOCKET, SO_REUSEADDR},        {SOL_SOCKET, SO_RXQ_OVFL},        {SOL_IP, IP_TTL},                 {SOL_IP, IP_TOS},
    {SOL_IP, IP_PKTINFO},              {SOL_IP, IP_RECVTTL},             {SOL_IP, IP_MULTICAST_IF},
    {SOL_IP, IP_MULTICAST_TTL},        {SOL_IP, IP_MULTICAST_LOOP},      {SOL_IP, IP_MULTICAST_ALL},
    {SOL_IP, IP_ADD_MEMBERSHIP},       {SOL_IP, IP_DROP_MEMBERSHIP},     {SOL_IPV6, IPV6_CHECKSUM},
    {SOL_IPV6, IPV6_UNICAST_HOPS},     {SOL_IPV6, IPV6_MULTICAST_IF},    {SOL_IPV6, IPV6_MULTICAST_HOPS},
    {SOL_IPV6, IPV6_MULTICAST_LOOP},   {SOL_IPV6, IPV6_MULTICAST_ALL},   {SOL_IPV6, IPV6_JOIN_GROUP},
    {SOL_IPV6, IPV6_LEAVE_GROUP},      {SOL_IPV6, IPV6_V6ONLY},          {SOL_IPV6, IPV6_RECVPKTINFO},
    {SOL_IPV6, IPV6_RECVHOPLIMIT},     {SOL_ICMPV6, ICMP6_FILTER},       {SOL_NETLINK, NETLINK_ADD_MEMBERSHIP},
    {SOL_NETLINK, NETLINK_DROP_MEMBERSHIP}, {SOL_NETLINK, NETLINK_EXT_ACK}, {SOL_NETLINK, NETLINK_CAP_ACK},
    {SOL_NETLINK, NETLINK_GET_STRICT_CHK}, {SOL_NETLINK, NETLINK_NO_ENOBUFS},
    {SOL_NETLINK, NETLINK_BROADCAST_ERROR}, {SOL_PACKET, PACKET_ADD_MEMBERSHIP},
    {SOL_PACKET, PACKET_DROP_MEMBERSHIP}, {SOL_PACKET, PACKET_IGNORE_OUTGOING},
};

static bool option_allowed(napi_env env, int level, int name, const char *call) {
  for (size_t i = 0; i < sizeof ALLOWED_OPTIONS / sizeof ALLOWED_OPTIONS[0]; i++)
    if (ALLOWED_OPTIONS[i].level == level && ALLOWED_OPTIONS[i].name == name) return true;
  char msg[128];
  snprintf(msg, sizeof msg, "%s(level %d, name %d) is not an option vipd uses", call, level, name);
  napi_throw_error(env, "ERR_SOCKET_OPTION_NOT_ALLOWED", msg);
  return false;
}

static napi_value sock_setsockopt(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  int level, name, ival;
  vsock *s = unwrap_this(env, info, &argc, argv, "setsockopt", true);
  if (s == NULL) return NULL;
  for (size_t i = argc; i < 3; i++) napi_get_undefined(env, &argv[i]);
  if (!get_int(env, argv[0], "level", INT32_MIN, INT32_MAX, &level) ||
      !get_int(env, argv[1], "name", INT32_MIN, INT32_MAX, &name) ||
      !option_allowed(env, level, name, "setsockopt"))
    return NULL;
  napi_valuetype t;
  NAPI_CALL(env, napi_typeof(env, argv[2], &t));
  const void *val;
  size_t vlen;
  if (t == napi_number) {
    if (!get_int(env, argv[2], "value", INT32_MIN, INT32_MAX, &ival)) return NULL;
    val = &ival;
    vlen = sizeof ival;
  } else {
    void *data;
    bool isbuf = false;
    napi_is_buffer(env, argv[2], &isbuf);
    if (!isbuf) {
      throw_type(env, "%s must be a number or a Buffer", "value");
      return NULL;
    }
    if (!get_buffer(env, argv[2], "value", &data, &vlen)) return NULL;
    if (vlen > MAX_OPTLEN) {
      throw_range(env, "%s must be at most 65536 bytes", "value");
      return NULL;
    }
    val = data;
  }
  if (setsockopt(s->fd, level, name, val, (socklen_t)vlen) < 0) throw_errno(env, errno, "setsockopt");
  return NULL;
}

/* getsockopt(level, name, size?) → number (int option) or Buffer (size bytes at most) */
static napi_value sock_getsockopt(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3], r;
  int level, name, size = -1;
  vsock *s = unwrap_this(env, info, &argc, argv, "getsockopt", true);
  if (s == NULL) return NULL;
  for (size_t i = argc; i < 3; i++) napi_get_undefined(env, &argv[i]);
  if (!get_int(env, argv[0], "level", INT32_MIN, INT32_MAX, &level) ||
      !get_int(env, argv[1], "name", INT32_MIN, INT32_MAX, &name) ||
      !option_allowed(env, level, name, "getsockopt"))
    return NULL;
  if (!is_nullish(env, argv[2]) && !get_int(env, argv[2], "size", 0, MAX_OPTLEN, &size)) return NULL;
  if (size < 0) {
    int v = 0;
    socklen_t l = sizeof v;
    if (getsockopt(s->fd, level, name, &v, &l) < 0) {
      throw_errno(env, errno, "getsockopt");
      return NULL;
    }
    /* A few options (e.g. IP_MULTICAST_TTL on some paths) answer with one byte. */
    if (l == 1) v = *(unsigned char *)&v;
    NAPI_CALL(env, napi_create_int32(env, v, &r));
    return r;
  }
  /* Zeroed: the kernel may report a longer length than it wrote. */
  unsigned char *tmp = calloc(size > 0 ? (size_t)size : 1, 1);
  if (tmp == NULL) {
    throw_errno(env, ENOMEM, "malloc");
    return NULL;
  }
  socklen_t l = (socklen_t)size;
  if (getsockopt(s->fd, level, name, tmp, &l) < 0) {
    int e = errno;
    free(tmp);
    throw_errno(env, e, "getsockopt");
    return NULL;
  }
  napi_status st = napi_create_buffer_copy(env, l > (socklen_t)size ? (size_t)size : l, tmp, NULL, &r);
  free(tmp);
  NAPI_CALL(env, st);
  return r;
}

static napi_value sock_getsockname(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  vsock *s = unwrap_this(env, info, &argc, NULL, "getsockname", true);
  if (s == NULL) return NULL;
  memset(&ss, 0, sizeof ss);
  if (getsockname(s->fd, (struct sockaddr *)&ss, &len) < 0) {
    throw_errno(env, errno, "getsockname");
    return NULL;
  }
  napi_value r = decode_sockaddr(env, s->family, &ss, len);
  if (r == NULL) throw_last_napi_error(env);
  return r;
}

/* Parse {ifindex?, source?, hopLimit?} into control messages for inet/inet6 sends. */
static bool build_send_cmsgs(napi_env env, const vsock *s, napi_value opts, unsigned char *cbuf,
                             size_t cap, size_t *used) {
  napi_value v;
  int r, ifindex = 0, hop = -1;
  bool have_pktinfo = false;
  char src[INET6_ADDRSTRLEN + 1] = "";
  *used = 0;
  if (is_nullish(env, opts)) return true;
  if (!is_object(env, opts)) {
    throw_type(env, "%s must be an object", "options");
    return false;
  }
  if ((r = get_prop(env, opts, "ifindex", &v)) < 0) return false;
  if (r == 1) {
    if (!get_int(env, v, "options.ifindex", 0, INT32_MAX, &ifindex)) return false;
    have_pktinfo = true;
  }
  if ((r = get_prop(env, opts, "source", &v)) < 0) return false;
  if (r == 1) {
    if (!get_string(env, v, "options.source", src, sizeof src)) return false;
    have_pktinfo = true;
  }
  if ((r = get_prop(env, opts, "hopLimit", &v)) < 0) return false;
  if (r == 1 && !get_int(env, v, "options.hopLimit", 0, 255, &hop)) return false;
  if (!have_pktinfo && hop < 0) return true;
  if (s->family != AF_INET && s->family != AF_INET6) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE", "send options need an inet or inet6 socket");
    return false;
  }

  struct msghdr m = {.msg_control = cbuf, .msg_controllen = cap};
  size_t total = 0;
  memset(cbuf, 0, cap);
  struct cmsghdr *c = CMSG_FIRSTHDR(&m);
  if (have_pktinfo) {
    if (s->family == AF_INET) {
      struct in_pktinfo pi = {.ipi_ifindex = ifindex};
      if (src[0] && inet_pton(AF_INET, src, &pi.ipi_spec_dst) != 1) {
        napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE", "invalid IPv4 source address");
        return false;
      }
      c->cmsg_level = IPPROTO_IP;
      c->cmsg_type = IP_PKTINFO;
      c->cmsg_len = CMSG_LEN(sizeof pi);
      memcpy(CMSG_DATA(c), &pi, sizeof pi);
      total += CMSG_SPACE(sizeof pi);
    } else {
      struct in6_pktinfo pi = {.ipi6_ifindex = (unsigned)ifindex};
      if (src[0] && inet_pton(AF_INET6, src, &pi.ipi6_addr) != 1) {
        napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE", "invalid IPv6 source address");
        return false;
      }
      c->cmsg_level = IPPROTO_IPV6;
      c->cmsg_type = IPV6_PKTINFO;
      c->cmsg_len = CMSG_LEN(sizeof pi);
      memcpy(CMSG_DATA(c), &pi, sizeof pi);
      total += CMSG_SPACE(sizeof pi);
    }
    c = (struct cmsghdr *)(cbuf + total);
  }
  if (hop >= 0) {
    /* IPv4 honours an IP_TTL control message the same way IPv6 honours IPV6_HOPLIMIT. */
    c->cmsg_level = s->family == AF_INET ? IPPROTO_IP : IPPROTO_IPV6;
    c->cmsg_type = s->family == AF_INET ? IP_TTL : IPV6_HOPLIMIT;
    c->cmsg_len = CMSG_LEN(sizeof hop);
    memcpy(CMSG_DATA(c), &hop, sizeof hop);
    total += CMSG_SPACE(sizeof hop);
  }
  *used = total;
  return true;
}

/* sendmsg(data: Buffer | Buffer[], to?: address|null, options?: {ifindex, source, hopLimit}) */
static napi_value sock_sendmsg(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3], r;
  struct iovec iov[MAX_IOV];
  struct sockaddr_storage ss;
  socklen_t sslen = 0;
  union {
    struct cmsghdr align;
    unsigned char buf[256];
  } control;
  size_t clen = 0;
  uint32_t niov = 0;
  vsock *s = unwrap_this(env, info, &argc, argv, "sendmsg", true);
  if (s == NULL) return NULL;
  for (size_t i = argc; i < 3; i++) napi_get_undefined(env, &argv[i]);

  /* Everything that can run JS (getters on `to` and `options`, napi_get_element on a Proxy or
   * an array with accessors) happens before any data pointer is taken: JS could detach or free
   * a Buffer's memory, and the kernel would then send freed heap. */
  if (!is_nullish(env, argv[1]) && !parse_sockaddr(env, s, argv[1], "to", &ss, &sslen)) return NULL;
  if (!build_send_cmsgs(env, s, argv[2], control.buf, sizeof control.buf, &clen)) return NULL;
  napi_value parts[MAX_IOV];
  bool isarr = false, isbuf = false;
  NAPI_CALL(env, napi_is_array(env, argv[0], &isarr));
  NAPI_CALL(env, napi_is_buffer(env, argv[0], &isbuf));
  if (isbuf) {
    parts[0] = argv[0];
    niov = 1;
  } else if (isarr) {
    NAPI_CALL(env, napi_get_array_length(env, argv[0], &niov));
    if (niov == 0 || niov > MAX_IOV) {
      throw_range(env, "%s must hold 1 to 64 Buffers", "data");
      return NULL;
    }
    for (uint32_t i = 0; i < niov; i++) NAPI_CALL(env, napi_get_element(env, argv[0], i, &parts[i]));
  } else {
    throw_type(env, "%s must be a Buffer or an array of Buffers", "data");
    return NULL;
  }
  /* From here to the syscall no JS runs: napi_is_buffer and napi_get_buffer_info call none. */
  for (uint32_t i = 0; i < niov; i++) {
    if (!get_buffer(env, parts[i], isbuf ? "data" : "data[i]", &iov[i].iov_base, &iov[i].iov_len))
      return NULL;
  }
  if (s->fd < 0) {
    /* A getter closed the socket. */
    throw_errno(env, EBADF, "sendmsg");
    return NULL;
  }

  struct msghdr msg = {.msg_name = sslen ? &ss : NULL, .msg_namelen = sslen, .msg_iov = iov,
                       .msg_iovlen = niov, .msg_control = clen ? control.buf : NULL,
                       .msg_controllen = clen};
  ssize_t n;
  do n = sendmsg(s->fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  if (n < 0) {
    throw_errno(env, errno, "sendmsg");
    return NULL;
  }
  NAPI_CALL(env, napi_create_int64(env, n, &r));
  return r;
}

/* attachFilter(program: Buffer): a classic BPF program (struct sock_filter, 8 bytes each) as
 * built by src/sys/bpf.ts. The only way to SO_ATTACH_FILTER: the option passthrough refuses it.
 * The kernel checks the program itself (EINVAL for an invalid one). */
static napi_value sock_attach_filter(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  vsock *s = unwrap_this(env, info, &argc, argv, "setsockopt(SO_ATTACH_FILTER)", true);
  if (s == NULL) return NULL;
  if (argc < 1) napi_get_undefined(env, &argv[0]);
  void *data;
  size_t len;
  if (!get_buffer(env, argv[0], "program", &data, &len)) return NULL;
  if (len == 0 || len % sizeof(struct sock_filter) != 0 || len / sizeof(struct sock_filter) > BPF_MAXINSNS) {
    throw_range(env, "%s must hold 1 to 4096 instructions of 8 bytes", "program");
    return NULL;
  }
  struct sock_fprog prog = {.len = (unsigned short)(len / sizeof(struct sock_filter)),
                            .filter = (struct sock_filter *)data};
  if (setsockopt(s->fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog) < 0)
    throw_errno(env, errno, "setsockopt(SO_ATTACH_FILTER)");
  return NULL;
}

static napi_value sock_close(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  vsock *s = unwrap_this(env, info, &argc, NULL, "close", false);
  if (s != NULL) close_socket(s, false);
  return NULL;
}

static napi_value sock_ref(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  vsock *s = unwrap_this(env, info, &argc, NULL, "ref", false);
  if (s != NULL && s->fd >= 0) uv_ref((uv_handle_t *)&s->poll);
  return NULL;
}

static napi_value sock_unref(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  vsock *s = unwrap_this(env, info, &argc, NULL, "unref", false);
  if (s != NULL && s->fd >= 0) uv_unref((uv_handle_t *)&s->poll);
  return NULL;
}

static napi_value sock_has_ref(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  napi_value r;
  vsock *s = unwrap_this(env, info, &argc, NULL, "hasRef", false);
  if (s == NULL) return NULL;
  NAPI_CALL(env, napi_get_boolean(env, s->fd >= 0 && uv_has_ref((uv_handle_t *)&s->poll), &r));
  return r;
}

/* ---------------------------------------------------------------- interface names */

/* ifNameToIndex(name, netns?) */
static napi_value if_name_to_index(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], r;
  char name[IF_NAMESIZE], netns[4096];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  for (size_t i = argc; i < 2; i++) napi_get_undefined(env, &argv[i]);
  if (!get_string(env, argv[0], "name", name, sizeof name)) return NULL;
  bool has_netns = !is_nullish(env, argv[1]);
  if (has_netns && !get_string(env, argv[1], "netns", netns, sizeof netns)) return NULL;
  int saved = -1;
  const char *failed = NULL;
  if (has_netns && (saved = netns_enter(netns, &failed)) < 0) {
    throw_errno_path(env, errno, failed, netns);
    return NULL;
  }
  unsigned idx = if_nametoindex(name);
  if (has_netns) netns_leave(saved);
  if (idx == 0) {
    throw_errno(env, errno ? errno : ENODEV, "if_nametoindex");
    return NULL;
  }
  NAPI_CALL(env, napi_create_uint32(env, idx, &r));
  return r;
}

/* ifIndexToName(index, netns?) */
static napi_value if_index_to_name(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], r;
  char name[IF_NAMESIZE], netns[4096];
  uint32_t idx;
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  for (size_t i = argc; i < 2; i++) napi_get_undefined(env, &argv[i]);
  if (!get_u32(env, argv[0], "index", &idx)) return NULL;
  bool has_netns = !is_nullish(env, argv[1]);
  if (has_netns && !get_string(env, argv[1], "netns", netns, sizeof netns)) return NULL;
  int saved = -1;
  const char *failed = NULL;
  if (has_netns && (saved = netns_enter(netns, &failed)) < 0) {
    throw_errno_path(env, errno, failed, netns);
    return NULL;
  }
  char *res = if_indextoname(idx, name);
  if (has_netns) netns_leave(saved);
  if (res == NULL) {
    throw_errno(env, errno ? errno : ENXIO, "if_indextoname");
    return NULL;
  }
  NAPI_CALL(env, napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &r));
  return r;
}

/* ---------------------------------------------------------------- module */

/* The kernel's numbers, straight from the headers; src/sys/constants.ts is checked
 * against these by a unit test. */
static const struct {
  const char *name;
  int value;
} CONSTANTS[] = {
#define C(x) {#x, x}
    C(AF_INET), C(AF_INET6), C(AF_PACKET), C(AF_NETLINK), C(SOCK_RAW), C(SOCK_DGRAM),
    C(SOL_SOCKET), C(SOL_IP), C(SOL_IPV6), C(SOL_NETLINK), C(SOL_PACKET),
    C(IPPROTO_IP), C(IPPROTO_IPV6), C(IPPROTO_ICMPV6),
    C(SO_REUSEADDR), C(SO_ERROR), C(SO_SNDBUF), C(SO_RCVBUF), C(SO_SNDBUFFORCE), C(SO_RCVBUFFORCE),
    C(SO_PRIORITY), C(SO_BINDTODEVICE), C(SO_MARK), C(SO_RXQ_OVFL),
    C(IP_TOS), C(IP_TTL), C(IP_HDRINCL), C(IP_PKTINFO), C(IP_RECVTTL), C(IP_FREEBIND),
    C(IP_MULTICAST_IF), C(IP_MULTICAST_TTL), C(IP_MULTICAST_LOOP), C(IP_ADD_MEMBERSHIP),
    C(IP_DROP_MEMBERSHIP), C(IP_MULTICAST_ALL),
    C(IPV6_CHECKSUM), C(IPV6_UNICAST_HOPS), C(IPV6_MULTICAST_IF), C(IPV6_MULTICAST_HOPS),
    C(IPV6_MULTICAST_LOOP), C(IPV6_JOIN_GROUP), C(IPV6_LEAVE_GROUP), C(IPV6_ADD_MEMBERSHIP),
    C(IPV6_DROP_MEMBERSHIP), C(IPV6_V6ONLY), C(IPV6_MULTICAST_ALL), C(IPV6_RECVPKTINFO),
    C(IPV6_PKTINFO), C(IPV6_RECVHOPLIMIT), C(IPV6_HOPLIMIT),
    C(NETLINK_ROUTE), C(NETLINK_GENERIC), C(NETLINK_ADD_MEMBERSHIP), C(NETLINK_DROP_MEMBERSHIP),
    C(NETLINK_PKTINFO), C(NETLINK_BROADCAST_ERROR), C(NETLINK_NO_ENOBUFS), C(NETLINK_LISTEN_ALL_NSID),
    C(NETLINK_CAP_ACK), C(NETLINK_EXT_ACK), C(NETLINK_GET_STRICT_CHK),
    C(PACKET_ADD_MEMBERSHIP), C(PACKET_DROP_MEMBERSHIP), C(PACKET_MR_MULTICAST), C(PACKET_MR_PROMISC),
    C(PACKET_MR_ALLMULTI), C(PACKET_HOST), C(PACKET_BROADCAST), C(PACKET_MULTICAST),
    C(PACKET_OTHERHOST), C(PACKET_OUTGOING), C(PACKET_IGNORE_OUTGOING),
    C(ETH_P_ALL), C(ETH_P_IP), C(ETH_P_ARP), C(ETH_P_IPV6), C(ARPHRD_ETHER), C(ARPHRD_LOOPBACK),
    C(IFNAMSIZ),
#undef C
};

NAPI_MODULE_INIT() {
  napi_value cls, consts, fn;
  napi_property_descriptor methods[] = {
      {"fd", NULL, NULL, sock_fd, NULL, NULL, napi_default, NULL},
      {"bind", NULL, sock_bind, NULL, NULL, NULL, napi_default_method, NULL},
      {"setsockopt", NULL, sock_setsockopt, NULL, NULL, NULL, napi_default_method, NULL},
      {"getsockopt", NULL, sock_getsockopt, NULL, NULL, NULL, napi_default_method, NULL},
      {"getsockname", NULL, sock_getsockname, NULL, NULL, NULL, napi_default_method, NULL},
      {"sendmsg", NULL, sock_sendmsg, NULL, NULL, NULL, napi_default_method, NULL},
      {"attachFilter", NULL, sock_attach_filter, NULL, NULL, NULL, napi_default_method, NULL},
      {"close", NULL, sock_close, NULL, NULL, NULL, napi_default_method, NULL},
      {"ref", NULL, sock_ref, NULL, NULL, NULL, napi_default_method, NULL},
      {"unref", NULL, sock_unref, NULL, NULL, NULL, napi_default_method, NULL},
      {"hasRef", NULL, sock_has_ref, NULL, NULL, NULL, napi_default_method, NULL},
  };
  NAPI_CALL(env, napi_define_class(env, "Socket", NAPI_AUTO_LENGTH, sock_new, NULL,
                                   sizeof methods / sizeof methods[0], methods, &cls));
  NAPI_CALL(env, napi_set_named_property(env, exports, "Socket", cls));
  NAPI_CALL(env, napi_create_function(env, "ifNameToIndex", NAPI_AUTO_LENGTH, if_name_to_index, NULL, &fn));
  NAPI_CALL(env, napi_set_named_property(env, exports, "ifNameToIndex", fn));
  NAPI_CALL(env, napi_create_function(env, "ifIndexToName", NAPI_AUTO_LENGTH, if_index_to_name, NULL, &fn));
  NAPI_CALL(env, napi_set_named_property(env, exports, "ifIndexToName", fn));
  NAPI_CALL(env, napi_create_object(env, &consts));
  for (size_t i = 0; i < sizeof CONSTANTS / sizeof CONSTANTS[0]; i++)
    if (!set_int(env, consts, CONSTANTS[i].name, CONSTANTS[i].value)) return NULL;
  NAPI_CALL(env, napi_object_freeze(env, consts));
  NAPI_CALL(env, napi_set_named_property(env, exports, "constants", consts));
  return exports;
}
