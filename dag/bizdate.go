package dag

import (
	"fmt"
	"strings"
	"time"
)

// BizdateLayout is the business date as this project carries it.
const BizdateLayout = "2006-01-02"

// ParseBizdate accepts "2024-06-01" or "2024-06-01 00:00:00" and returns the
// canonical "2024-06-01". Any other time of day is refused: DataWorks business
// dates are whole days.
func ParseBizdate(s string) (string, error) {
	s = strings.TrimSpace(s)
	layout := BizdateLayout
	if len(s) > len(BizdateLayout) {
		layout = time.DateTime // the wire form, "yyyy-MM-dd 00:00:00"
	}
	t, err := time.Parse(layout, s)
	if err != nil {
		return "", fmt.Errorf("bizdate %q is not a date: write it as yyyy-MM-dd (e.g. 2024-06-01) or yyyy-MM-dd 00:00:00", s)
	}
	if t.Hour() != 0 || t.Minute() != 0 || t.Second() != 0 {
		return "", fmt.Errorf("bizdate %q has a time of day; DataWorks business dates are whole days: write yyyy-MM-dd or yyyy-MM-dd 00:00:00", s)
	}
	return t.Format(BizdateLayout), nil
}

// DefaultBizdate is the DataWorks convention: the day before the run date, in
// loc.
func DefaultBizdate(now time.Time, loc *time.Location) string {
	y, m, d := now.In(loc).Date()
	return time.Date(y, m, d-1, 0, 0, 0, 0, time.UTC).Format(BizdateLayout)
}
