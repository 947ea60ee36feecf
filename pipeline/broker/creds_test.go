package broker

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"
)

// userCreds makes a user of the account signed by akp and writes its creds file.
func userCreds(t *testing.T, dir, name string, akp nkeys.KeyPair) string {
	t.Helper()
	ukp, _ := nkeys.CreateUser()
	upub, _ := ukp.PublicKey()
	ujwt, err := jwt.NewUserClaims(upub).Encode(akp)
	if err != nil {
		t.Fatal(err)
	}
	seed, _ := ukp.Seed()
	creds, err := jwt.FormatUserConfig(ujwt, seed)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, creds, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestConnectCredsFile authenticates with a creds file (user JWT + nkey seed)
// against a real server in operator (decentralised JWT) mode.
func TestConnectCredsFile(t *testing.T) {
	okp, _ := nkeys.CreateOperator()
	opub, _ := okp.PublicKey()
	ojwt, err := jwt.NewOperatorClaims(opub).Encode(okp)
	if err != nil {
		t.Fatal(err)
	}
	oc, err := jwt.DecodeOperatorClaims(ojwt)
	if err != nil {
		t.Fatal(err)
	}
	akp, _ := nkeys.CreateAccount()
	apub, _ := akp.PublicKey()
	ajwt, err := jwt.NewAccountClaims(apub).Encode(okp)
	if err != nil {
		t.Fatal(err)
	}
	res := &server.MemAccResolver{}
	if err := res.Store(apub, ajwt); err != nil {
		t.Fatal(err)
	}
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoSigs: true, NoLog: true,
		TrustedOperators: []*jwt.OperatorClaims{oc}, AccountResolver: res})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	defer ns.Shutdown()
	if !ns.ReadyForConnections(5 * time.Second) {
		t.Fatal("server not ready")
	}
	dir := t.TempDir()
	good := userCreds(t, dir, "good.creds", akp)
	otherAcc, _ := nkeys.CreateAccount() // an account the server does not know
	bad := userCreds(t, dir, "bad.creds", otherAcc)

	nc, err := Connect(ns.ClientURL(), WithCredsFile(good), WithLogger(quiet))
	if err != nil {
		t.Fatalf("good creds: %v", err)
	}
	nc.Close()
	if _, err := Connect(ns.ClientURL(), WithCredsFile(bad), WithLogger(quiet)); !errors.Is(err, ErrAuth) {
		t.Errorf("creds of an unknown account: %v, want ErrAuth", err)
	}
	if _, err := Connect(ns.ClientURL(), WithLogger(quiet)); !errors.Is(err, ErrAuth) {
		t.Errorf("no creds: %v, want ErrAuth", err)
	}
}
