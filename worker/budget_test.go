package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestBudgetFloorSharesTheDay(t *testing.T) {
	var none *budget
	require.Zero(t, none.floor(), "no budget, no floor")
	require.Zero(t, (&budget{}).floor())

	b := &budget{perDay: 100} // a Basic edition account
	require.Equal(t, 24*time.Hour/100, b.floor(), "before the first count, one run has the whole budget")
	b.waiting.Store(3)
	require.Equal(t, 43*time.Minute+12*time.Second, b.floor(), "three open runs share 100 calls a day")
	b.waiting.Store(2000)
	require.Equal(t, 20*24*time.Hour, b.floor(), "more runs than calls: each waits days (the deadline ends it first)")
}

func TestDailyBudgetFlag(t *testing.T) {
	cfg, err := parseConfig([]string{"-dataworks-daily-budget", "100"}, func(string) string { return "" }, nil)
	require.NoError(t, err)
	require.Equal(t, 100, cfg.DailyBudget)
	cfg, err = parseConfig(nil, func(k string) string {
		if k == "MANUALDAG_DATAWORKS_DAILY_BUDGET" {
			return "5000"
		}
		return ""
	}, nil)
	require.NoError(t, err)
	require.Equal(t, 5000, cfg.DailyBudget)
}

func TestWorkersShareTheQPS(t *testing.T) {
	cfg, err := parseConfig([]string{"-dataworks-qps", "10", "-dataworks-workers", "4"}, func(string) string { return "" }, nil)
	require.NoError(t, err)
	require.Equal(t, 10.0, cfg.QPS, "the server's limit: the whole task queue")
	require.Equal(t, 2.5, cfg.DataWorks.MaxQPS, "each worker's strict cap")
	cfg, err = parseConfig([]string{"-dataworks-qps", "0", "-dataworks-workers", "4"}, func(string) string { return "" }, nil)
	require.NoError(t, err)
	require.Zero(t, cfg.DataWorks.MaxQPS, "no limit")
}
