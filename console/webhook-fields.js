// The Messenger webhook fields the product subscribes each page to: the same list, in the
// same order, as SUBSCRIBED_FIELDS in messenger_channel/provisioning/service.py (a browser
// test compares the two). The setup instructions are rendered from it.
export const WEBHOOK_FIELDS = [
  'messages',
  'messaging_postbacks',
  'message_deliveries',
  'message_reads',
  'message_echoes',
  'message_reactions',
  'message_edits',
  'messaging_referrals',
  'messaging_optins',
  'messaging_handovers',
  'standby',
  'messaging_policy_enforcement',
];
