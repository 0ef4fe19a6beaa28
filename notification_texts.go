package circly

import "fmt"

// The words of each notification, in Korean like the question templates (the service's
// audience is Korean students). They are data: the push and the in-app row carry the same text.
// None of them ever names who voted for whom.

// PollStartText announces a new poll to the circle's members.
func PollStartText(circleName, question string) (title, message string) {
	return "새 투표가 시작됐어요", fmt.Sprintf("%s: %s", circleName, question)
}

// PollDeadlineText reminds a member who has not voted that the poll closes in minutes.
func PollDeadlineText(minutes int, circleName, question string) (title, message string) {
	when := fmt.Sprintf("%d분", minutes)
	if minutes%60 == 0 {
		when = fmt.Sprintf("%d시간", minutes/60)
	}
	return fmt.Sprintf("투표 마감 %s 전이에요", when), fmt.Sprintf("%s: %s (아직 투표하지 않았어요)", circleName, question)
}

// PollResultText says that a poll's results are out.
func PollResultText(circleName, question string) (title, message string) {
	return "투표 결과가 나왔어요", fmt.Sprintf("%s: %s", circleName, question)
}

// PickedText says how many times the member was picked, never by whom.
func PickedText(times int, circleName, question string) (title, message string) {
	return "친구들이 당신을 뽑았어요", fmt.Sprintf("%s: '%s'에서 %d번 뽑혔어요", circleName, question, times)
}
