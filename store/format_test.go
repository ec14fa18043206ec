package store

import (
	"testing"
	"time"
)

// goldenRecord is an individual's record exactly as the build before the
// one model (individual.Individual, with int64 FLOPs) wrote it, from a
// float64 TrainFLOPs of float64(int64(20000000000000003)). The encoding
// must not change: existing repos are read, and re-written, by this build.
const goldenRecord = `{"v":1,"id":"5f15fcaa7bb588c980d7783c90bcd41f615807726520e9f0a145a2c4d7a148d1","genome":"Z2Vub21lIDc=",` +
	`"fitness":0.875,"test_accuracy":0.86,"status":"dead","born":"2026-03-01T12:00:01.000000005Z","died":"2026-03-01T13:00:00Z",` +
	`"birth_seq":42,"parent":"e3ead25f52212cd91fea85f63f399f8c8a59563fc556917317f7567c70bcba1c","mutation":"insert-convolution",` +
	`"origin":"12D3KooWtest","params":123456,"train_flops":20000000000000004,"eval_flops":987654321,"steps":25600,` +
	`"inherited_params":100000,"sliced_params":20000,"new_params":3456,"death_reason":"lost a tournament"}`

func goldenIndividual() *Individual {
	return &Individual{ID: testID(7), Genome: []byte("genome 7"), Fitness: 0.875, TestAccuracy: 0.86, HasTest: true,
		Status: StatusDead, Born: time.Date(2026, 3, 1, 12, 0, 1, 5, time.UTC), Died: time.Date(2026, 3, 1, 13, 0, 0, 0, time.UTC),
		BirthSeq: 42, Parent: testID(6), Mutation: "insert-convolution", Origin: "12D3KooWtest", Params: 123456,
		TrainFLOPs: 20000000000000003, EvalFLOPs: 987654321, Steps: 25600,
		InheritedParams: 100000, SlicedParams: 20000, NewParams: 3456, DeathReason: "lost a tournament"}
}

// TestRecordFormat: the int64 FLOPs of the model are written as the
// float64 FLOPs of earlier builds were (past 2^53 rounded as a float64
// is), byte for byte, and such a record reads back and re-encodes to the
// same bytes.
func TestRecordFormat(t *testing.T) {
	b, err := encodeIndividual(goldenIndividual())
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != goldenRecord {
		t.Fatalf("record\n%s\nwant\n%s", b, goldenRecord)
	}
	got, err := decodeIndividual(testID(7), []byte(goldenRecord))
	if err != nil {
		t.Fatal(err)
	}
	if got.TrainFLOPs != 20000000000000004 || got.EvalFLOPs != 987654321 || got.Steps != 25600 || got.Status != StatusDead {
		t.Errorf("decoded FLOPs %d+%d, %d steps, %v; want 20000000000000004+987654321, 25600, dead",
			got.TrainFLOPs, got.EvalFLOPs, got.Steps, got.Status)
	}
	again, err := encodeIndividual(got)
	if err != nil {
		t.Fatal(err)
	}
	if string(again) != goldenRecord {
		t.Errorf("re-encoded\n%s\nwant\n%s", again, goldenRecord)
	}
}
