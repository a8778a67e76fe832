/**
 * The synthetic market's listings: real US tickers on the tapes they really print on, so a
 * newcomer can watch AAPL or SPY and get data, and the symbol they watched yesterday is there
 * today. The tape follows the listing exchange, as the SIP plans assign it: NYSE-listed → Tape A
 * (CTA Network A), NYSE Arca, NYSE American, Cboe and the other regional listings → Tape B
 * (Network B), Nasdaq-listed → Tape C (UTP). Exchange-traded funds follow the same rule: SPY and
 * GLD are Arca-listed (B), QQQ and TLT Nasdaq-listed (C). Walmart moved its listing from NYSE to
 * Nasdaq in December 2025, so WMT is on Tape C.
 *
 * Prices are about their levels in late 2025 (the market walks from there); `activity` is how
 * often a name trades and quotes relative to the others (the busiest names about ten times the
 * quietest), so the board's famous names move the most. The order is the order a market of N
 * symbols takes them in: the best-known first, the tapes interleaved so that any first three
 * cover all three tapes.
 */
import type { Tape } from './event.js';

export interface Listing {
  sym: string;
  tape: Tape;
  /** The issuer's name, as reference data gives it. */
  name: string;
  /** Polygon's ticker type: common stock or exchange-traded fund. */
  type: 'CS' | 'ETF';
  /** A plausible price, in cents. */
  priceCents: number;
  /** Relative rate of events on this symbol (1 quietest, 10 busiest). */
  activity: number;
}

type Row = readonly [
  sym: string,
  tape: Tape,
  name: string,
  type: 'CS' | 'ETF',
  dollars: number,
  activity: number,
];

const ROWS: readonly Row[] = [
  ['AAPL', 3, 'Apple Inc.', 'CS', 278, 10],
  ['JPM', 1, 'JPMorgan Chase & Co.', 'CS', 310, 6],
  ['SPY', 2, 'SPDR S&P 500 ETF Trust', 'ETF', 680, 10],
  ['MSFT', 3, 'Microsoft Corp', 'CS', 485, 9],
  ['IBM', 1, 'International Business Machines Corp', 'CS', 305, 4],
  ['NVDA', 3, 'NVIDIA Corp', 'CS', 182, 10],
  ['GLD', 2, 'SPDR Gold Shares', 'ETF', 385, 5],
  ['KO', 1, 'Coca-Cola Co', 'CS', 70, 4],
  ['AMZN', 3, 'Amazon.com Inc.', 'CS', 230, 9],
  ['XOM', 1, 'Exxon Mobil Corp', 'CS', 117, 5],
  ['GOOGL', 3, 'Alphabet Inc. Class A', 'CS', 315, 8],
  ['IWM', 2, 'iShares Russell 2000 ETF', 'ETF', 245, 7],
  ['META', 3, 'Meta Platforms, Inc. Class A', 'CS', 640, 7],
  ['JNJ', 1, 'Johnson & Johnson', 'CS', 205, 4],
  ['TSLA', 3, 'Tesla, Inc.', 'CS', 430, 10],
  ['V', 1, 'Visa Inc. Class A', 'CS', 330, 4],
  ['DIA', 2, 'SPDR Dow Jones Industrial Average ETF Trust', 'ETF', 475, 3],
  ['AVGO', 3, 'Broadcom Inc.', 'CS', 380, 7],
  ['PG', 1, 'Procter & Gamble Co', 'CS', 148, 3],
  ['QQQ', 3, 'Invesco QQQ Trust, Series 1', 'ETF', 620, 9],
  ['DIS', 1, 'Walt Disney Co', 'CS', 110, 4],
  ['XLF', 2, 'Financial Select Sector SPDR Fund', 'ETF', 53, 5],
  ['COST', 3, 'Costco Wholesale Corp', 'CS', 900, 3],
  ['BA', 1, 'Boeing Co', 'CS', 200, 4],
  ['NFLX', 3, 'Netflix, Inc.', 'CS', 105, 5],
  ['GE', 1, 'GE Aerospace', 'CS', 300, 4],
  ['EEM', 2, 'iShares MSCI Emerging Markets ETF', 'ETF', 54, 5],
  ['AMD', 3, 'Advanced Micro Devices, Inc.', 'CS', 215, 8],
  ['BAC', 1, 'Bank of America Corp', 'CS', 53, 6],
  ['INTC', 3, 'Intel Corp', 'CS', 40, 7],
  ['WMT', 3, 'Walmart Inc.', 'CS', 112, 5],
  ['CVX', 1, 'Chevron Corp', 'CS', 150, 4],
  ['TLT', 3, 'iShares 20+ Year Treasury Bond ETF', 'ETF', 89, 5],
  ['XLE', 2, 'Energy Select Sector SPDR Fund', 'ETF', 90, 4],
  ['MA', 1, 'Mastercard Inc. Class A', 'CS', 560, 3],
  ['PEP', 3, 'PepsiCo, Inc.', 'CS', 148, 3],
  ['BRK.B', 1, 'Berkshire Hathaway Inc. Class B', 'CS', 505, 3],
  ['CSCO', 3, 'Cisco Systems, Inc.', 'CS', 78, 4],
  ['XLK', 2, 'Technology Select Sector SPDR Fund', 'ETF', 290, 3],
  ['HD', 1, 'Home Depot, Inc.', 'CS', 350, 3],
  ['ADBE', 3, 'Adobe Inc.', 'CS', 340, 3],
  ['UNH', 1, 'UnitedHealth Group Inc.', 'CS', 330, 4],
  ['QCOM', 3, 'Qualcomm Inc.', 'CS', 170, 4],
  ['VOO', 2, 'Vanguard S&P 500 ETF', 'ETF', 625, 4],
  ['MCD', 1, "McDonald's Corp", 'CS', 305, 3],
  ['PLTR', 3, 'Palantir Technologies Inc. Class A', 'CS', 170, 7],
  ['ORCL', 1, 'Oracle Corp', 'CS', 200, 5],
  ['MU', 3, 'Micron Technology, Inc.', 'CS', 230, 5],
  ['VTI', 2, 'Vanguard Total Stock Market ETF', 'ETF', 335, 3],
  ['LLY', 1, 'Eli Lilly and Co', 'CS', 1_000, 3],
  ['TXN', 3, 'Texas Instruments Inc.', 'CS', 175, 2],
  ['CRM', 1, 'Salesforce, Inc.', 'CS', 235, 3],
  ['AMGN', 3, 'Amgen Inc.', 'CS', 330, 2],
  ['SLV', 2, 'iShares Silver Trust', 'ETF', 52, 4],
  ['MRK', 1, 'Merck & Co., Inc.', 'CS', 100, 3],
  ['SBUX', 3, 'Starbucks Corp', 'CS', 85, 3],
  ['PFE', 1, 'Pfizer Inc.', 'CS', 25, 5],
  ['INTU', 3, 'Intuit Inc.', 'CS', 650, 2],
  ['HYG', 2, 'iShares iBoxx $ High Yield Corporate Bond ETF', 'ETF', 80, 3],
  ['T', 1, 'AT&T Inc.', 'CS', 25, 4],
  ['CMCSA', 3, 'Comcast Corp Class A', 'CS', 27, 3],
  ['VZ', 1, 'Verizon Communications Inc.', 'CS', 40, 3],
  ['PYPL', 3, 'PayPal Holdings, Inc.', 'CS', 60, 3],
  ['LQD', 2, 'iShares iBoxx $ Investment Grade Corporate Bond ETF', 'ETF', 111, 2],
  ['NKE', 1, 'Nike, Inc. Class B', 'CS', 65, 3],
  ['CAT', 1, 'Caterpillar Inc.', 'CS', 580, 2],
  ['GDX', 2, 'VanEck Gold Miners ETF', 'ETF', 75, 3],
  ['GS', 1, 'Goldman Sachs Group, Inc.', 'CS', 830, 2],
  ['F', 1, 'Ford Motor Co', 'CS', 13, 5],
  ['EFA', 2, 'iShares MSCI EAFE ETF', 'ETF', 95, 2],
  ['USO', 2, 'United States Oil Fund, LP', 'ETF', 72, 2],
  ['XLV', 2, 'Health Care Select Sector SPDR Fund', 'ETF', 150, 2],
  ['KRE', 2, 'SPDR S&P Regional Banking ETF', 'ETF', 60, 2],
];

export const LISTINGS: readonly Listing[] = ROWS.map(([sym, tape, name, type, dollars, activity]) => ({
  sym,
  tape,
  name,
  type,
  priceCents: Math.round(dollars * 100),
  activity,
}));
