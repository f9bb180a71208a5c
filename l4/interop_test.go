package l4

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// needProgram finds an interop peer, or skips loudly (fails under CI=true).
func needProgram(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		for _, dir := range []string{"/usr/sbin", "/usr/local/sbin"} {
			if _, serr := os.Stat(filepath.Join(dir, name)); serr == nil {
				return filepath.Join(dir, name)
			}
		}
		if os.Getenv("CI") == "true" {
			t.Fatalf("INTEROP: %s not installed (scripts/test-deps.sh installs it)", name)
		}
		t.Skipf("INTEROP SKIPPED: %s not installed; install it (apt-get install %s) to run this test", name, name)
	}
	return p
}

// freePort returns a loopback port nothing listens on now.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startPeer runs a peer program in the foreground as this test's child,
// with its output in dir, and waits until every port accepts connections.
func startPeer(t *testing.T, dir, bin string, args []string, ports ...int) {
	t.Helper()
	out, err := os.Create(filepath.Join(dir, filepath.Base(bin)+".out"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		out.Close()
	})
	for _, port := range ports {
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		for i := 0; ; i++ {
			c, err := net.DialTimeout("tcp", addr, time.Second)
			if err == nil {
				c.Close()
				break
			}
			select {
			case <-exited:
				b, _ := os.ReadFile(out.Name())
				t.Fatalf("%s exited: %s", bin, b)
			default:
			}
			if i == 200 {
				b, _ := os.ReadFile(out.Name())
				t.Fatalf("%s not listening on %s after 10 s: %s", bin, addr, b)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// viaProxy connects to the proxy from 127.0.0.5 (so the peer's socket
// peer, 127.0.0.1, differs from the true client), sends req and returns
// the answer and the client's own address.
func viaProxy(t *testing.T, proxyAddr, req string) (string, string) {
	t.Helper()
	c := dialFrom(t, "127.0.0.5", proxyAddr)
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if req != "" {
		if _, err := io.WriteString(c, req); err != nil {
			t.Fatal(err)
		}
	}
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("read answer: %v", err)
	}
	// The peer has closed its side; close ours so that the flow ends.
	c.Close()
	return string(b), c.LocalAddr().String()
}

// NGINX behind the TCP proxy reads our PROXY v2 header: a stream server
// answers with $proxy_protocol_addr:$proxy_protocol_port, an http server
// logs and answers with it.
func TestInteropNGINX(t *testing.T) {
	bin := needProgram(t, "nginx")
	mod := ""
	for _, m := range []string{"/usr/lib/nginx/modules/ngx_stream_module.so", "/usr/share/nginx/modules/ngx_stream_module.so"} {
		if _, err := os.Stat(m); err == nil {
			mod = m
		}
	}
	dir := t.TempDir()
	streamPort, httpPort := freePort(t), freePort(t)
	load := ""
	if mod != "" {
		load = "load_module " + mod + ";"
	} else if os.Getenv("CI") == "true" {
		t.Fatal("INTEROP: nginx stream module missing (libnginx-mod-stream)")
	} else {
		t.Skip("INTEROP SKIPPED: nginx stream module missing; apt-get install libnginx-mod-stream")
	}
	conf := fmt.Sprintf(`%s
daemon off;
master_process off;
pid %[2]s/nginx.pid;
error_log %[2]s/error.log info;
events { worker_connections 64; }
stream {
	log_format pp '$proxy_protocol_addr:$proxy_protocol_port $remote_addr';
	access_log %[2]s/stream.log pp;
	server {
		listen 127.0.0.1:%[3]d proxy_protocol;
		return "$proxy_protocol_addr:$proxy_protocol_port\n";
	}
}
http {
	access_log %[2]s/http.log;
	client_body_temp_path %[2]s/body;
	proxy_temp_path %[2]s/proxy;
	fastcgi_temp_path %[2]s/fastcgi;
	uwsgi_temp_path %[2]s/uwsgi;
	scgi_temp_path %[2]s/scgi;
	log_format pp '$proxy_protocol_addr:$proxy_protocol_port "$request"';
	server {
		listen 127.0.0.1:%[4]d proxy_protocol;
		access_log %[2]s/http.log pp;
		location / { return 200 "client=$proxy_protocol_addr:$proxy_protocol_port\n"; }
	}
}
`, load, dir, streamPort, httpPort)
	cfgPath := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(cfgPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	startPeer(t, dir, bin, []string{"-p", dir, "-c", cfgPath, "-e", filepath.Join(dir, "error.log")}, streamPort, httpPort)
	// The readiness probes above opened connections without a header; the
	// logs below are read for our client's line only.

	stream := startProxy(t, Config{ProxyProtocolV2: true, EndpointID: "vpce-0abc"}, nil, fmt.Sprintf("127.0.0.1:%d", streamPort))
	got, streamClient := viaProxy(t, stream.addr, "")
	if strings.TrimSpace(got) != streamClient {
		t.Errorf("nginx stream saw %q, the client is %s", got, streamClient)
	}
	if r := stream.record(t); r.Client.String() != streamClient {
		t.Errorf("record client %v", r.Client)
	}

	web := startProxy(t, Config{ProxyProtocolV2: true}, nil, fmt.Sprintf("127.0.0.1:%d", httpPort))
	got, client := viaProxy(t, web.addr, "GET /who HTTP/1.0\r\nHost: x\r\n\r\n")
	if !strings.HasPrefix(got, "HTTP/1.1 200") || !strings.Contains(got, "client="+client+"\n") {
		t.Errorf("nginx http answered %q, the client is %s", got, client)
	}
	waitForLine(t, filepath.Join(dir, "http.log"), client+` "GET /who HTTP/1.0"`)
	waitForLine(t, filepath.Join(dir, "stream.log"), streamClient+" 127.0.0.1")
}

// waitForLine waits (bounded) for a log line containing want.
func waitForLine(t *testing.T, path, want string) {
	t.Helper()
	for range 100 {
		if f, err := os.Open(path); err == nil {
			sc := bufio.NewScanner(f)
			for sc.Scan() {
				if strings.Contains(sc.Text(), want) {
					f.Close()
					return
				}
			}
			f.Close()
		}
		time.Sleep(50 * time.Millisecond)
	}
	b, _ := os.ReadFile(path)
	t.Errorf("%s has no line with %q:\n%s", filepath.Base(path), want, b)
}

// HAProxy with accept-proxy behind the TCP proxy: it checks our CRC32C
// (HAProxy rejects a header whose PP2_TYPE_CRC32C does not match) and
// answers with %ci:%cp, the unique id and the authority it received.
func TestInteropHAProxy(t *testing.T) {
	bin := needProgram(t, "haproxy")
	dir := t.TempDir()
	port := freePort(t)
	conf := fmt.Sprintf(`global
	pidfile %[1]s/haproxy.pid
defaults
	mode http
	timeout connect 5s
	timeout client 10s
	timeout server 10s
frontend fe
	bind 127.0.0.1:%[2]d accept-proxy
	http-request return status 200 content-type text/plain lf-string "client=%%ci:%%cp uid=%%[fc_pp_unique_id,hex] authority=%%[fc_pp_authority]\n"
`, dir, port)
	cfgPath := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(cfgPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "-c", "-f", cfgPath).CombinedOutput(); err != nil {
		t.Fatalf("haproxy config check: %v\n%s", err, out)
	}
	startPeer(t, dir, bin, []string{"-db", "-f", cfgPath}, port)

	// HAProxy really checks the checksum: a header with one CRC bit flipped
	// is refused, the same header with the right CRC is served.
	for _, corrupt := range []bool{true, false} {
		hdr, _ := AppendHeaderV2(nil, netip.MustParseAddrPort("127.0.0.9:999"), netip.MustParseAddrPort("127.0.0.1:1"), nil)
		if corrupt {
			hdr[len(hdr)-1] ^= 1
		}
		c := dial(t, fmt.Sprintf("127.0.0.1:%d", port))
		_, _ = c.Write(append(hdr, "GET / HTTP/1.0\r\n\r\n"...))
		b, _ := io.ReadAll(c)
		if ok := strings.Contains(string(b), "client=127.0.0.9:999"); ok == corrupt {
			t.Fatalf("corrupt=%v: haproxy answered %q", corrupt, b)
		}
	}

	env := startProxy(t, Config{ProxyProtocolV2: true, EndpointID: "vpce-0abc"}, nil, fmt.Sprintf("127.0.0.1:%d", port))
	for range 3 {
		got, client := viaProxy(t, env.addr, "GET / HTTP/1.0\r\nHost: x\r\n\r\n")
		if !strings.HasPrefix(got, "HTTP/1.1 200") || !strings.Contains(got, "client="+client+" ") {
			t.Fatalf("haproxy answered %q, the client is %s", got, client)
		}
		if !strings.Contains(got, "uid=") || strings.Contains(got, "uid= ") {
			t.Errorf("haproxy saw no unique id: %q", got)
		}
	}

	// Through a TLS listener the SNI reaches HAProxy as the authority.
	tlsEnv := startProxy(t, Config{ProxyProtocolV2: true, TLS: selfSignedTLS(t)}, nil, fmt.Sprintf("127.0.0.1:%d", port))
	c := dialFrom(t, "127.0.0.5", tlsEnv.addr)
	tc := tlsClient(c, "db.example.com")
	_ = tc.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(tc, "GET / HTTP/1.0\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(tc)
	if !strings.Contains(string(b), "client="+c.LocalAddr().String()) || !strings.Contains(string(b), "authority=db.example.com") {
		t.Errorf("haproxy via TLS answered %q", b)
	}
}
