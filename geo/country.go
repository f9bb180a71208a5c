package geo

import (
	"fmt"
	"strings"
)

// Country is an ISO 3166-1 alpha-2 code held as two upper-case ASCII
// letters. The zero value means unknown.
type Country [2]byte

// String returns the code, or "--" for unknown.
func (c Country) String() string {
	if c == (Country{}) {
		return "--"
	}
	return string(c[:])
}

// IsZero reports whether c is unknown.
func (c Country) IsZero() bool { return c == Country{} }

// ParseCountry accepts an ISO 3166-1 alpha-2 code in either case and checks
// it against the officially assigned codes.
func ParseCountry(s string) (Country, error) {
	if len(s) != 2 {
		return Country{}, fmt.Errorf("geo: invalid country code %q: want two letters (ISO 3166-1 alpha-2)", s)
	}
	u := strings.ToUpper(s)
	c := Country{u[0], u[1]}
	if !assigned(c) {
		return Country{}, fmt.Errorf("geo: invalid country code %q: not an ISO 3166-1 alpha-2 code", s)
	}
	return c, nil
}

// countryFromBytes makes a Country from a database value, accepting only
// two ASCII letters.
func countryFromBytes(b []byte) (Country, bool) {
	if len(b) != 2 {
		return Country{}, false
	}
	var c Country
	for i := range 2 {
		x := b[i]
		if x >= 'a' && x <= 'z' {
			x -= 'a' - 'A'
		}
		if x < 'A' || x > 'Z' {
			return Country{}, false
		}
		c[i] = x
	}
	return c, true
}

// iso3166 lists the officially assigned ISO 3166-1 alpha-2 codes, plus XK
// (Kosovo), which registries and GeoIP databases use.
const iso3166 = "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ " +
	"CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR " +
	"GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP " +
	"KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT " +
	"MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW " +
	"SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG " +
	"UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW XK"

var assignedSet = func() map[Country]bool {
	m := make(map[Country]bool, 260)
	for _, f := range strings.Fields(iso3166) {
		m[Country{f[0], f[1]}] = true
	}
	return m
}()

func assigned(c Country) bool { return assignedSet[c] }
