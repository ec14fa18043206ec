package onnx

import (
	"encoding/binary"
	"math"

	"google.golang.org/protobuf/encoding/protowire"
)

// Field numbers of onnx.proto (checked against the descriptors of onnx 1.12).
const (
	modelIRVersion    = 1
	modelProducerName = 2
	modelGraph        = 7
	modelOpsetImport  = 8

	opsetDomain  = 1
	opsetVersion = 2

	graphNode        = 1
	graphName        = 2
	graphInitializer = 5
	graphInput       = 11
	graphOutput      = 12

	nodeInput     = 1
	nodeOutput    = 2
	nodeName      = 3
	nodeOpType    = 4
	nodeAttribute = 5

	attrName = 1
	attrF    = 2
	attrI    = 3
	attrInts = 8
	attrType = 20

	attrTypeFloat = 1
	attrTypeInt   = 2
	attrTypeInts  = 7

	tensorDims     = 1
	tensorDataType = 2
	tensorName     = 8
	tensorRawData  = 9

	dataTypeFloat = 1
	dataTypeInt64 = 7

	valueInfoName = 1
	valueInfoType = 2

	typeTensorType = 1
	tensorElemType = 1
	tensorShape    = 2
	shapeDim       = 1
	dimValue       = 1
	dimParam       = 2
)

// msg is a protobuf message under construction.
type msg []byte

func (m msg) str(num protowire.Number, s string) msg {
	m = protowire.AppendTag(m, num, protowire.BytesType)
	return protowire.AppendString(m, s)
}

func (m msg) bytes(num protowire.Number, b []byte) msg {
	m = protowire.AppendTag(m, num, protowire.BytesType)
	return protowire.AppendBytes(m, b)
}

func (m msg) sub(num protowire.Number, sub msg) msg { return m.bytes(num, sub) }

func (m msg) int(num protowire.Number, v int64) msg {
	m = protowire.AppendTag(m, num, protowire.VarintType)
	return protowire.AppendVarint(m, uint64(v))
}

func (m msg) float(num protowire.Number, v float32) msg {
	m = protowire.AppendTag(m, num, protowire.Fixed32Type)
	return protowire.AppendFixed32(m, math.Float32bits(v))
}

// ints writes a repeated int64 unpacked, as proto2 (onnx.proto) declares it.
func (m msg) ints(num protowire.Number, vs []int64) msg {
	for _, v := range vs {
		m = m.int(num, v)
	}
	return m
}

// attribute is one NodeProto attribute.
type attribute struct {
	name string
	kind int // attrTypeFloat, attrTypeInt or attrTypeInts
	f    float32
	i    int64
	ints []int64
}

func intAttr(name string, v int64) attribute { return attribute{name: name, kind: attrTypeInt, i: v} }
func intsAttr(name string, v ...int64) attribute {
	return attribute{name: name, kind: attrTypeInts, ints: v}
}
func floatAttr(name string, v float32) attribute {
	return attribute{name: name, kind: attrTypeFloat, f: v}
}

func (a attribute) encode() msg {
	m := msg(nil).str(attrName, a.name)
	switch a.kind {
	case attrTypeFloat:
		m = m.float(attrF, a.f)
	case attrTypeInt:
		m = m.int(attrI, a.i)
	case attrTypeInts:
		m = m.ints(attrInts, a.ints)
	}
	return m.int(attrType, int64(a.kind))
}

func nodeProto(name, op string, inputs, outputs []string, attrs ...attribute) msg {
	var m msg
	for _, s := range inputs {
		m = m.str(nodeInput, s)
	}
	for _, s := range outputs {
		m = m.str(nodeOutput, s)
	}
	m = m.str(nodeName, name).str(nodeOpType, op)
	for _, a := range attrs {
		m = m.sub(nodeAttribute, a.encode())
	}
	return m
}

func floatTensor(name string, dims []int, data []float32) msg {
	raw := make([]byte, 4*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
	}
	d := make([]int64, len(dims))
	for i, v := range dims {
		d[i] = int64(v)
	}
	return msg(nil).ints(tensorDims, d).int(tensorDataType, dataTypeFloat).str(tensorName, name).bytes(tensorRawData, raw)
}

func int64Tensor(name string, data []int64) msg {
	raw := make([]byte, 8*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint64(raw[8*i:], uint64(v))
	}
	return msg(nil).int(tensorDims, int64(len(data))).int(tensorDataType, dataTypeInt64).str(tensorName, name).bytes(tensorRawData, raw)
}

// dim is a tensor dimension: a fixed size, or symbolic when param is set.
type dim struct {
	value int64
	param string
}

func valueInfo(name string, dims []dim) msg {
	var shape msg
	for _, d := range dims {
		var dm msg
		if d.param != "" {
			dm = dm.str(dimParam, d.param)
		} else {
			dm = dm.int(dimValue, d.value)
		}
		shape = shape.sub(shapeDim, dm)
	}
	tt := msg(nil).int(tensorElemType, dataTypeFloat).sub(tensorShape, shape)
	typ := msg(nil).sub(typeTensorType, tt)
	return msg(nil).str(valueInfoName, name).sub(valueInfoType, typ)
}
