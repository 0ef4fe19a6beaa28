package redisbroker

import "testing"

func TestCRC16IsRedisClusters(t *testing.T) {
	// The check value of CRC-16/XMODEM, and the slot Redis's own docs give for "foo" (12182).
	if got := crc16("123456789"); got != 0x31C3 {
		t.Fatalf("crc16(123456789) = %#x, want 0x31c3", got)
	}
	if got := crc16("foo") % clusterSlots; got != 12182 {
		t.Fatalf("slot of foo = %d, want 12182", got)
	}
}

func TestShardTagsSpreadOverTheSlots(t *testing.T) {
	for _, n := range []int{1, 3, 16, 64} {
		for i := range n {
			tag := shardTag("circly:", i, n)
			slot := int(crc16(tag)) % clusterSlots
			if lo, hi := i*clusterSlots/n, (i+1)*clusterSlots/n; slot < lo || slot >= hi {
				t.Fatalf("n=%d: shard %d's tag %q is in slot %d, outside [%d, %d)", n, i, tag, slot, lo, hi)
			}
		}
	}
}
