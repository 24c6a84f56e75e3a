// Raw-frame blaster for the kernel peer (perf/kernel/kernel_peer): sends
// prebuilt Ethernet/IPv4/TCP ACK frames of FLOWS flows (client -> VIP:80)
// round-robin on an AF_PACKET socket with sendmmsg (qdisc bypassed), for
// SECONDS seconds, then prints how many it sent. Runs in the client
// namespace; the veth peer delivers to the router namespace.
//
//   sender IFNAME DST_MAC SRC_IP VIP FLOWS SECONDS
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static uint16_t csum(const void* data, size_t len, uint32_t sum) {
  const uint8_t* p = data;
  for (size_t i = 0; i + 1 < len; i += 2) sum += (uint32_t)(p[i] << 8 | p[i + 1]);
  if (len & 1) sum += (uint32_t)(p[len - 1] << 8);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return (uint16_t)~sum;
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char** argv) {
  if (argc != 7) {
    fprintf(stderr, "usage: sender IFNAME DST_MAC SRC_IP VIP FLOWS SECONDS\n");
    return 2;
  }
  const int flows = atoi(argv[5]);
  const double seconds = atof(argv[6]);
  unsigned mac[6];
  sscanf(argv[2], "%x:%x:%x:%x:%x:%x", &mac[0], &mac[1], &mac[2], &mac[3], &mac[4], &mac[5]);
  uint32_t src = ntohl(inet_addr(argv[3])), vip = ntohl(inet_addr(argv[4]));
  int fd = socket(AF_PACKET, SOCK_RAW, 0);
  if (fd < 0) return perror("socket"), 1;
  int one = 1;
  setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one));
  struct sockaddr_ll addr = {.sll_family = AF_PACKET, .sll_ifindex = (int)if_nametoindex(argv[1]), .sll_halen = 6};
  for (int i = 0; i < 6; ++i) addr.sll_addr[i] = (uint8_t)mac[i];
  if (bind(fd, (struct sockaddr*)&addr, sizeof(addr)) < 0) return perror("bind"), 1;

  uint8_t (*frames)[60] = calloc((size_t)flows, 60);
  for (int f = 0; f < flows; ++f) {
    uint8_t* e = frames[f];
    for (int i = 0; i < 6; ++i) e[i] = (uint8_t)mac[i];
    e[6] = 0x02; e[7] = 0xcc; e[11] = 0x01;
    e[12] = 0x08; e[13] = 0x00;
    uint8_t* ip = e + 14;
    uint32_t s = src + (uint32_t)(f / 1024), d = vip;
    ip[0] = 0x45; ip[3] = 40; ip[5] = 1; ip[6] = 0x40; ip[8] = 64; ip[9] = 6;
    for (int i = 0; i < 4; ++i) { ip[12 + i] = (uint8_t)(s >> (24 - 8 * i)); ip[16 + i] = (uint8_t)(d >> (24 - 8 * i)); }
    uint16_t c = csum(ip, 20, 0); ip[10] = (uint8_t)(c >> 8); ip[11] = (uint8_t)c;
    uint8_t* tcp = ip + 20;
    uint16_t sport = (uint16_t)(10000 + f % 1024);
    tcp[0] = (uint8_t)(sport >> 8); tcp[1] = (uint8_t)sport; tcp[2] = 0; tcp[3] = 80;
    tcp[7] = 0xe8; tcp[6] = 0x03;  // seq 1000
    tcp[11] = 1;                   // ack 1
    tcp[12] = 5 << 4; tcp[13] = 0x10; tcp[14] = 0x20;
    uint32_t pseudo = (s >> 16) + (s & 0xffff) + (d >> 16) + (d & 0xffff) + 6 + 20;
    c = csum(tcp, 20, pseudo); tcp[16] = (uint8_t)(c >> 8); tcp[17] = (uint8_t)c;
  }
  enum { kBatch = 64 };
  struct mmsghdr msgs[kBatch];
  struct iovec iov[kBatch];
  memset(msgs, 0, sizeof(msgs));
  unsigned long long sent = 0;
  int cursor = 0;
  const double end = now() + seconds;
  while (now() < end) {
    for (int i = 0; i < kBatch; ++i) {
      iov[i].iov_base = frames[cursor];
      iov[i].iov_len = 60;
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
      msgs[i].msg_hdr.msg_name = &addr;
      msgs[i].msg_hdr.msg_namelen = sizeof(addr);
      cursor = cursor + 1 == flows ? 0 : cursor + 1;
    }
    int n = sendmmsg(fd, msgs, kBatch, 0);
    if (n > 0) sent += (unsigned long long)n;
  }
  printf("sent=%llu\n", sent);
  return 0;
}
