package deps

import (
	_ "github.com/chromedp/chromedp"
	_ "github.com/nats-io/nats-server/v2/server"
	_ "github.com/nats-io/nats.go"
	_ "github.com/owulveryck/onnx-go"
	_ "github.com/owulveryck/onnx-go/backend/x/gorgonnx"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/prometheus/common/expfmt"
	_ "go4.org/unsafe/assume-no-moving-gc"
	_ "gocv.io/x/gocv"
)
