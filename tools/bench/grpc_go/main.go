// grpc-go-echo — the gRPC-Go side of tools/bench/grpc.sh: /sluice.echo.Echo/Unary, the payload
// back at index 0, the reference sluice's examples/grpc-echo is measured against.
//
//	GOMAXPROCS=1 taskset -c 0 grpc-go-echo --addr 10.77.0.1 --port 50051
//
// Built offline by tools/bench/grpc.sh from Debian's golang-google-grpc-dev (1.33) and
// golang-google-protobuf-dev (GOPATH mode, no modules), into the build folder; never committed.
// No protoc-gen-go: the service description is written by hand and the two messages go through
// protowire in a codec registered as "proto" (the name a plain application/grpc request selects),
// so the server decodes every EchoRequest field and builds the EchoReply, as the C example does.
// That is the least a gRPC-Go server can do per call (generated code would add reflection and
// copy the payload): the comparison, if anything, flatters gRPC-Go. One process, no logging per
// call; it prints "grpc-go-echo: ready" once it listens, and stops on SIGTERM or SIGINT.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"

	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
	"google.golang.org/protobuf/encoding/protowire"
)

// echoRequest is sluice.echo.EchoRequest: payload = 1 (bytes), count = 2, delay_ms = 3 (uint32).
type echoRequest struct {
	payload []byte
	count   uint32
	delayMs uint32
}

// echoReply is sluice.echo.EchoReply: payload = 1 (bytes), index = 2 (uint32).
type echoReply struct {
	payload []byte
	index   uint32
}

var errWire = errors.New("grpc-go-echo: malformed EchoRequest")

// decode reads an EchoRequest as proto3 does: any field order, the last value of a field wins,
// unknown fields skipped. The payload aliases data (gRPC-Go allocates each message afresh).
func (m *echoRequest) decode(data []byte) error {
	for len(data) > 0 {
		num, typ, n := protowire.ConsumeTag(data)
		if n < 0 {
			return errWire
		}
		data = data[n:]
		switch {
		case num == 1 && typ == protowire.BytesType:
			m.payload, n = protowire.ConsumeBytes(data)
		case (num == 2 || num == 3) && typ == protowire.VarintType:
			var v uint64
			v, n = protowire.ConsumeVarint(data)
			if num == 2 {
				m.count = uint32(v)
			} else {
				m.delayMs = uint32(v)
			}
		default:
			n = protowire.ConsumeFieldValue(num, typ, data)
		}
		if n < 0 {
			return errWire
		}
		data = data[n:]
	}
	return nil
}

// encode writes an EchoReply; proto3 leaves out fields at their default (empty, 0).
func (m *echoReply) encode() []byte {
	size := 0
	if len(m.payload) > 0 {
		size += protowire.SizeTag(1) + protowire.SizeBytes(len(m.payload))
	}
	if m.index != 0 {
		size += protowire.SizeTag(2) + protowire.SizeVarint(uint64(m.index))
	}
	b := make([]byte, 0, size)
	if len(m.payload) > 0 {
		b = protowire.AppendTag(b, 1, protowire.BytesType)
		b = protowire.AppendBytes(b, m.payload)
	}
	if m.index != 0 {
		b = protowire.AppendTag(b, 2, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(m.index))
	}
	return b
}

// echoCodec replaces gRPC-Go's default "proto" codec in this binary: it knows the two messages.
type echoCodec struct{}

func (echoCodec) Marshal(v interface{}) ([]byte, error) {
	m, ok := v.(*echoReply)
	if !ok {
		return nil, fmt.Errorf("grpc-go-echo: cannot marshal %T", v)
	}
	return m.encode(), nil
}

func (echoCodec) Unmarshal(data []byte, v interface{}) error {
	m, ok := v.(*echoRequest)
	if !ok {
		return fmt.Errorf("grpc-go-echo: cannot unmarshal into %T", v)
	}
	return m.decode(data)
}

func (echoCodec) Name() string { return "proto" }

// echoServer is the service's handler type (ServiceDesc.HandlerType).
type echoServer interface {
	unary(ctx context.Context, req *echoRequest) (*echoReply, error)
}

type echo struct{}

func (echo) unary(_ context.Context, req *echoRequest) (*echoReply, error) {
	return &echoReply{payload: req.payload}, nil
}

// unaryHandler is what protoc-gen-go-grpc would generate for Unary.
func unaryHandler(srv interface{}, ctx context.Context, dec func(interface{}) error, interceptor grpc.UnaryServerInterceptor) (interface{}, error) {
	req := new(echoRequest)
	if err := dec(req); err != nil {
		return nil, err
	}
	if interceptor == nil {
		return srv.(echoServer).unary(ctx, req)
	}
	info := &grpc.UnaryServerInfo{Server: srv, FullMethod: "/sluice.echo.Echo/Unary"}
	return interceptor(ctx, req, info, func(ctx context.Context, r interface{}) (interface{}, error) {
		return srv.(echoServer).unary(ctx, r.(*echoRequest))
	})
}

var echoServiceDesc = grpc.ServiceDesc{
	ServiceName: "sluice.echo.Echo",
	HandlerType: (*echoServer)(nil),
	Methods:     []grpc.MethodDesc{{MethodName: "Unary", Handler: unaryHandler}},
	Metadata:    "sluice/echo.proto",
}

func main() {
	addr := flag.String("addr", "", "address to listen on (default: every address)")
	port := flag.Int("port", 50051, "TCP port to listen on")
	flag.Parse()
	encoding.RegisterCodec(echoCodec{})

	lis, err := net.Listen("tcp", net.JoinHostPort(*addr, fmt.Sprint(*port)))
	if err != nil {
		fmt.Fprintf(os.Stderr, "grpc-go-echo: error: listen on %s port %d: %v\n", *addr, *port, err)
		os.Exit(1)
	}
	srv := grpc.NewServer()
	srv.RegisterService(&echoServiceDesc, echo{})
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-stop
		srv.Stop()
	}()
	fmt.Println("grpc-go-echo: ready")
	if err := srv.Serve(lis); err != nil {
		fmt.Fprintf(os.Stderr, "grpc-go-echo: error: %v\n", err)
		os.Exit(1)
	}
}
