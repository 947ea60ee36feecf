package natstest

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// Cluster is N embedded nats-servers with JetStream, clustered on loopback.
// Each node keeps its ports and store across Stop and Restart, so a
// restarted node rejoins as itself.
type Cluster struct {
	t       testing.TB
	opts    []*server.Options
	Servers []*server.Server
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// StartCluster starts an n-node cluster with stores under dir and waits
// until JetStream has a meta leader.
func StartCluster(t testing.TB, dir string, n int) *Cluster {
	t.Helper()
	c := &Cluster{t: t, Servers: make([]*server.Server, n)}
	client, cluster := make([]int, n), make([]int, n)
	for i := range n {
		client[i], cluster[i] = freePort(t), freePort(t)
	}
	for i := range n {
		var routes []*url.URL
		for j := range n {
			if j != i {
				routes = append(routes, &url.URL{Scheme: "nats", Host: fmt.Sprintf("127.0.0.1:%d", cluster[j])})
			}
		}
		c.opts = append(c.opts, &server.Options{
			ServerName: fmt.Sprintf("n%d", i+1), Host: "127.0.0.1", Port: client[i],
			JetStream: true, StoreDir: filepath.Join(dir, fmt.Sprintf("n%d", i+1)),
			Cluster: server.ClusterOpts{Name: "affect-test", Host: "127.0.0.1", Port: cluster[i]},
			Routes:  routes, NoLog: true, NoSigs: true,
		})
	}
	for i := range n {
		c.start(i)
	}
	t.Cleanup(func() {
		for _, s := range c.Servers {
			if s != nil {
				s.Shutdown()
			}
		}
	})
	c.WaitJetStream(30 * time.Second)
	return c
}

func (c *Cluster) start(i int) {
	c.t.Helper()
	o := *c.opts[i]
	s, err := server.NewServer(&o)
	if err != nil {
		c.t.Fatalf("node %d: %v", i+1, err)
	}
	s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		c.t.Fatalf("node %d not ready", i+1)
	}
	c.Servers[i] = s
}

// URLs are the nodes' client URLs, comma-separated.
func (c *Cluster) URLs() string {
	u := make([]string, len(c.opts))
	for i, o := range c.opts {
		u[i] = fmt.Sprintf("nats://127.0.0.1:%d", o.Port)
	}
	return strings.Join(u, ",")
}

// Stop shuts node i down (its store stays).
func (c *Cluster) Stop(i int) {
	c.Servers[i].Shutdown()
	c.Servers[i].WaitForShutdown()
	c.Servers[i] = nil
}

// Restart starts node i again with its ports and store.
func (c *Cluster) Restart(i int) {
	c.t.Helper()
	c.start(i)
}

// WaitJetStream waits until a client gets a JetStream answer from the cluster.
func (c *Cluster) WaitJetStream(timeout time.Duration) {
	c.t.Helper()
	nc, err := nats.Connect(c.URLs(), nats.MaxReconnects(-1))
	if err != nil {
		c.t.Fatal(err)
	}
	defer nc.Close()
	js, _ := nc.JetStream()
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := js.AccountInfo(nats.Context(ctx))
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("JetStream cluster not ready: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
