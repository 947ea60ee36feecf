package broker

import (
	"crypto/tls"
	"errors"
	"testing"
	"time"

	"github.com/affectlab/affect/internal/testenv"
	"github.com/nats-io/nats-server/v2/server"
)

// TestConnectTLS connects over TLS, verifying the server with a CA file; a
// wrong CA is refused with a clear error.
func TestConnectTLS(t *testing.T) {
	dir := t.TempDir()
	caFile, certFile, keyFile := testenv.TestCA(t, dir, "ca", true)
	otherCA, _, _ := testenv.TestCA(t, dir, "other-ca", false)
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoSigs: true, NoLog: true, TLS: true,
		TLSConfig:  &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		TLSTimeout: 2})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	defer ns.Shutdown()
	if !ns.ReadyForConnections(5 * time.Second) {
		t.Fatal("server not ready")
	}
	url := "tls://" + ns.Addr().String()
	nc, err := Connect(url, WithTLS(caFile, "", ""), WithLogger(quiet))
	if err != nil {
		t.Fatalf("TLS with the right CA: %v", err)
	}
	if !nc.TLSRequired() {
		t.Error("connection is not TLS")
	}
	nc.Close()
	_, err = Connect(url, WithTLS(otherCA, "", ""), WithLogger(quiet), WithTimeout(2*time.Second))
	if !errors.Is(err, ErrTLS) {
		t.Fatalf("TLS with a wrong CA: %v", err)
	}
	t.Log(err)
}
